/**
 * The main thread's side of the actor runtime: a pool of worker threads, each hosting the
 * actors of the members the consistent hash ring gives it. Requests for one worker are
 * gathered during an event-loop turn and sent as one batch (one comlink call per worker per
 * turn). A worker that dies fails its in-flight requests at once with WORKER_FAILED and is
 * replaced; its members reload from the store on their next request.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { LicenseState } from '../domain/aggregates/license.ts';
import type { Config } from '../config/types.ts';
import type { RulesSource } from '../config/rules-source.ts';
import { AppError } from '../errors/catalog.ts';
import { createRing, type Ring } from '../routing/ring.ts';
import type { Clock } from '../service/clock.ts';
import type { MemberActors, ShippedMember } from '../service/license-port.ts';
import type { CheckInput, CheckResult, CommandInput, CommandResult, SnapshotResult } from '../service/license-service.ts';
import type { MetricsJson } from '../observability/metrics.ts';
import type { OwnershipFence } from '../store/event-store.ts';
import { ACTOR_OPERATIONS, type ActorReply, type ActorRequest, type ActorValue, type ResultOf, type WorkerApi, type WorkerInit, type WorkerStats } from './protocol.ts';
import { deserializeError, installErrorTransfer } from './thread-errors.ts';

const WORKER_URL = new URL('./worker-entry.mjs', import.meta.url);

interface Item {
  request: ActorRequest;
  resolve(value: ActorValue): void;
  reject(error: unknown): void;
  settled: boolean;
}

interface Slot {
  id: string;
  worker: Worker;
  remote: Comlink.Remote<WorkerApi>;
  ready: Promise<void>;
  /** Requests accepted for this worker and not yet answered (queued or sent). */
  outstanding: Set<Item>;
  /** Reads and writes go in separate batches, so a quick read never waits for a slow write. */
  queued: { reads: Item[]; writes: Item[] };
  flushScheduled: boolean;
  consecutiveFailures: number;
  /** The worker died and its replacement has not been started yet. */
  down: boolean;
}

export interface ActorPoolOptions {
  config: Config;
  clock: Clock;
  rules: RulesSource;
  /** Called when a worker fails (for logging). */
  onWorkerFailure?: (workerId: string, reason: string) => void;
  /**
   * This node's ownership fence for a member (cluster), read when the request is dispatched
   * (the ring it was routed by) and sent with it; throws for a member this node does not own.
   */
  ownership?: (memberId: string) => OwnershipFence | null;
}

export class ActorPool implements MemberActors {
  readonly #options: ActorPoolOptions;
  readonly #slots = new Map<string, Slot>();
  readonly #ring: Ring;
  #closing = false;
  readonly #unsubscribe: () => void;

  private constructor(options: ActorPoolOptions, workerIds: string[]) {
    this.#options = options;
    this.#ring = createRing(workerIds);
    for (const id of workerIds) this.#slots.set(id, this.#spawn(id));
    this.#unsubscribe = options.rules.subscribe((rules) => {
      for (const slot of this.#slots.values()) void slot.remote.setRules(rules).catch(() => {});
    });
  }

  /** Starts the workers and resolves once each answers. */
  static async start(options: ActorPoolOptions): Promise<ActorPool> {
    installErrorTransfer();
    const count = options.config.service.actors.workers ?? availableParallelism();
    const pool = new ActorPool(
      options,
      Array.from({ length: count }, (_, i) => `worker-${i}`),
    );
    try {
      await Promise.all([...pool.#slots.values()].map((slot) => slot.ready));
    } catch (error) {
      await pool.close().catch(() => {});
      throw error;
    }
    return pool;
  }

  get workerIds(): readonly string[] {
    return this.#ring.owners;
  }

  workerOf(memberId: string): string {
    return this.#ring.ownerOf(memberId);
  }

  execute(memberId: string, input: CommandInput): Promise<CommandResult> {
    return this.#request({ op: 'execute', memberId, args: [input], fence: null });
  }

  check(memberId: string, input: CheckInput): Promise<CheckResult> {
    return this.#request({ op: 'check', memberId, args: [input], fence: null });
  }

  activeLicenses(memberId: string): Promise<LicenseState[]> {
    return this.#request({ op: 'activeLicenses', memberId, args: [], fence: null });
  }

  /** Snapshots the member now, in the worker that holds it (admin). */
  snapshotNow(memberId: string): Promise<SnapshotResult> {
    return this.#request({ op: 'snapshotNow', memberId, args: [], fence: null });
  }

  /** The local half of a handoff (cluster): its worker finishes its queued commands, then forgets it. */
  evict(memberId: string): Promise<boolean> {
    return this.#request({ op: 'evict', memberId, args: [], fence: null });
  }

  /** Loads (and, in a cluster, claims) a member so its first request finds it in memory. */
  warm(memberId: string): Promise<boolean> {
    return this.#request({ op: 'warm', memberId, args: [], fence: null });
  }

  /** Live migration, sending: its worker finishes its queued commands, then gives it up as data. */
  export(memberId: string): Promise<ShippedMember | null> {
    return this.#request({ op: 'export', memberId, args: [], fence: null });
  }

  /** Live migration, receiving: its requests wait in its worker's mailbox for the shipment (bounded). */
  expectInstall(memberId: string, waitMs: number): Promise<boolean> {
    return this.#request({ op: 'expectInstall', memberId, args: [waitMs], fence: null });
  }

  /** Live migration, receiving: the shipped member goes into memory with this node's fence. */
  install(memberId: string, shipped: ShippedMember | null): Promise<boolean> {
    return this.#request({ op: 'install', memberId, args: [shipped], fence: null });
  }

  /** How many members are in memory over all live workers. */
  async memberCount(): Promise<number> {
    return (await this.stats()).reduce((sum, worker) => sum + worker.membersInMemory, 0);
  }

  /** The members in memory over all live workers. */
  async memberIds(): Promise<string[]> {
    return (await this.#askEveryWorker((remote) => remote.memberIds())).flat();
  }

  /** Every live worker's statistics; a worker that does not answer within a second is left out. */
  stats(): Promise<WorkerStats[]> {
    return this.#askEveryWorker((remote) => remote.stats());
  }

  /** Every live worker's metrics; a worker that does not answer within a second is left out. */
  metrics(): Promise<MetricsJson[]> {
    return this.#askEveryWorker((remote) => remote.metrics());
  }

  /**
   * Asks every worker, bounded: a dead worker or one being replaced never answers, and a
   * scrape or a stats call must not hang on it.
   */
  async #askEveryWorker<T>(ask: (remote: Comlink.Remote<WorkerApi>) => Promise<T>): Promise<T[]> {
    const answers: (T | null)[] = await Promise.all(
      [...this.#slots.values()].map((slot) =>
        slot.down
          ? Promise.resolve(null)
          : Promise.race([slot.ready.then(() => ask(slot.remote)), new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000).unref())]).catch(() => null),
      ),
    );
    return answers.filter((answer): answer is T => answer !== null);
  }

  /** Test hook: ends a worker abruptly, as a crash would. */
  async killWorker(workerId: string): Promise<void> {
    const slot = this.#slots.get(workerId);
    if (!slot) throw new Error(`no worker ${workerId}`);
    await slot.worker.terminate();
  }

  /** Lets every worker finish its queued commands and close its store, then ends the threads. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#unsubscribe();
    await Promise.all(
      [...this.#slots.values()].map(async (slot) => {
        try {
          await slot.ready;
          await slot.remote.close();
        } catch {
          // a worker that is already gone has nothing to drain
        }
        await slot.worker.terminate();
      }),
    );
  }

  /** Sends one operation to the worker that holds the member. */
  #request<Request extends ActorRequest>(request: Request): Promise<ResultOf<Request['op']>> {
    // The worker answers each request with its operation's result (worker.ts runs it by name):
    // what comes back across the thread boundary is typed here, once.
    return this.#dispatch(request) as Promise<ResultOf<Request['op']>>;
  }

  #dispatch(request: ActorRequest): Promise<ActorValue> {
    if (this.#closing) return Promise.reject(new AppError('NOT_READY', 'the service is shutting down'));
    const { batch, fenced } = ACTOR_OPERATIONS[request.op];
    if (fenced && this.#options.ownership) {
      try {
        request.fence = this.#options.ownership(request.memberId);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const slot = this.#slots.get(this.#ring.ownerOf(request.memberId));
    if (!slot) return Promise.reject(new Error('ring names a worker the pool does not have'));
    if (slot.down) return Promise.reject(new AppError('WORKER_FAILED', `${slot.id} is being replaced; retry`));
    if (slot.outstanding.size >= this.#options.config.service.actors.maxPendingPerWorker) {
      return Promise.reject(new AppError('OVERLOADED', `${slot.outstanding.size} requests are in flight to ${slot.id}; retry later`));
    }
    return new Promise<ActorValue>((resolve, reject) => {
      const item: Item = { request, resolve, reject, settled: false };
      slot.outstanding.add(item);
      slot.queued[batch].push(item);
      if (!slot.flushScheduled) {
        slot.flushScheduled = true;
        setImmediate(() => this.#flush(slot));
      }
    });
  }

  #flush(slot: Slot): void {
    slot.flushScheduled = false;
    for (const kind of ['reads', 'writes'] as const) {
      const items = slot.queued[kind];
      if (items.length === 0) continue;
      slot.queued[kind] = [];
      void this.#send(slot, items);
    }
  }

  async #send(slot: Slot, items: Item[]): Promise<void> {
    const { remote } = slot; // the worker these items go to, even if it is replaced meanwhile
    let replies: ActorReply[];
    try {
      await slot.ready;
      replies = await remote.handle({ now: this.#options.clock.now(), requests: items.map((item) => item.request) });
    } catch (error) {
      for (const item of items) this.#settle(slot, item, { ok: false, error });
      return;
    }
    items.forEach((item, i) => {
      const reply = replies[i];
      if (!reply) this.#settle(slot, item, { ok: false, error: new Error('worker lost a reply') });
      else if (reply.ok) this.#settle(slot, item, { ok: true, value: reply.value });
      else this.#settle(slot, item, { ok: false, error: deserializeError(reply.error) });
    });
  }

  #settle(slot: Slot, item: Item, outcome: { ok: true; value: ActorValue } | { ok: false; error: unknown }): void {
    if (item.settled) return;
    item.settled = true;
    slot.outstanding.delete(item);
    if (outcome.ok) item.resolve(outcome.value);
    else item.reject(outcome.error);
  }

  #spawn(id: string, consecutiveFailures = 0): Slot {
    // The rules in force, not the config's: a worker replaced after a hot reload must not
    // go back to the rules the pool started with (it missed the reload's broadcast).
    const config: Config = { ...this.#options.config, rules: this.#options.rules.current() };
    const init: WorkerInit = { workerId: id, config, now: this.#options.clock.now() };
    const worker = new Worker(WORKER_URL, { workerData: init, name: id });
    const remote = Comlink.wrap<WorkerApi>(nodeEndpoint(worker));
    let failStart: (error: Error) => void = () => {};
    const exited = new Promise<never>((_, reject) => (failStart = reject));
    const slot: Slot = {
      id,
      worker,
      remote,
      // Ready once the worker answers a ping (it exposes its API only after opening its store);
      // a worker that exits first fails the start.
      ready: Promise.race([remote.ping().then(() => undefined), exited]),
      outstanding: new Set(),
      queued: { reads: [], writes: [] },
      flushScheduled: false,
      consecutiveFailures,
      down: false,
    };
    slot.ready.then(
      () => (slot.consecutiveFailures = 0),
      () => {},
    );
    let startError: unknown;
    worker.on('error', (error) => (startError = error));
    worker.on('exit', (code) => {
      const reason = startError instanceof Error ? startError.message : `exit code ${code}`;
      failStart(new AppError('WORKER_FAILED', `worker ${id} failed: ${reason}`));
      if (this.#slots.get(id) !== slot) return;
      // Everyone waiting on this worker hears at once; nobody hangs on a dead thread.
      const failure = new AppError('WORKER_FAILED', `worker ${id} failed while the request was in flight (${reason}); retry`);
      for (const item of [...slot.outstanding]) this.#settle(slot, item, { ok: false, error: failure });
      slot.queued = { reads: [], writes: [] };
      if (this.#closing) return;
      this.#options.onWorkerFailure?.(id, reason);
      // Replace it at once; back off if replacements keep failing to start (the store is down,
      // say). Until the replacement starts, requests for its members fail fast.
      const failures = slot.consecutiveFailures + 1;
      const delay = failures <= 1 ? 0 : Math.min(5000, 100 * 2 ** (failures - 2));
      if (delay === 0) {
        this.#slots.set(id, this.#spawn(id, failures));
      } else {
        slot.down = true;
        setTimeout(() => {
          if (!this.#closing && this.#slots.get(id) === slot) this.#slots.set(id, this.#spawn(id, failures));
        }, delay).unref();
      }
    });
    return slot;
  }
}

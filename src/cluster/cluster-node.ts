/**
 * One node's part in the cluster: it follows the newest view in the membership store (polling,
 * plus a push from the node that made a change), beats its heartbeat, takes silent nodes out of
 * the ring, routes members by the ring of its view, and hands off the members a new view moves
 * away from it.
 *
 * Handoff, per moved member, with live migration (`liveMigration`, the default): the new owner
 * is told the member is coming (its requests there wait for it, bounded), the member's queued
 * commands finish here, its state leaves memory as data (export) and the new owner installs it
 * without reading the store (docs/cluster.md, "Live migration"). Without it, or when a shipment
 * fails: the member leaves memory (evict) and its new owner loads it from the store (warm), or
 * its next request does. A configurable number of members are in flight at once, so a
 * rebalance never floods Cassandra with loads. Safety does not depend on any of this: the store
 * refuses every write of an owner whose fence is older than the newest claim (see
 * OwnershipFence), so a node that missed the handoff (paused, partitioned) cannot write when it
 * comes back, and a shipped state behind the store fails its first write's head condition.
 */
import type { ClusterConfig } from '../config/types.ts';
import { AppError } from '../errors/catalog.ts';
import type { MemberActors, ShippedMember } from '../service/license-port.ts';
import type { Logger } from '../service/logger.ts';
import type { OwnershipFence } from '../store/event-store.ts';
import type { Ring } from '../routing/ring.ts';
import type { MembershipStore } from './membership-store.ts';
import { PeerCallError, type Peers } from './peers.ts';
import {
  addNode,
  ClusterChangeError,
  drainNode,
  firstView,
  keyspaceShareMoving,
  removeNode,
  ringNodes,
  ringOf,
  silentNodes,
  type ClusterNode as NodeRecord,
  type ClusterView,
} from './view.ts';
import { createRing } from '../routing/ring.ts';
import pLimit, { type LimitFunction } from 'p-limit';

/** What the cluster needs from this node's actors (the actor pool, or the in-process service). */
export type LocalActors = Pick<MemberActors, 'memberIds' | 'memberCount' | 'evict' | 'warm' | 'export' | 'expectInstall' | 'install'>;

/** One member of an install batch: its shipped state, or null when its export failed (it loads instead). */
export interface Shipment {
  memberId: string;
  member: ShippedMember | null;
}

/** What a new owner did with a batch of shipped members. */
export interface InstallAnswer {
  /** Put in memory from the shipment, no store read. */
  installed: number;
  /** Not this node's in its view, or already in memory here (a request loaded it first). */
  skipped: number;
  /** Shipped without state: loaded from the store instead (warm). */
  warmed: number;
  failed: number;
}

export interface MoveProgress {
  /** The epoch whose ring these moves follow. */
  epoch: number;
  /** Members in memory here that the new ring gives to another node. */
  planned: number;
  /** Members evicted here so far (GET /v1/admin/cluster shows it under this documented name). */
  released: number;
  warmed: number;
  /** Members the new owner installed from their shipped state (live migration). */
  installed: number;
  /** Members whose warm-up or install failed on the new owner (they load on their next request instead). */
  failed: number;
  inFlight: number;
  byTarget: Record<string, number>;
  startedAt: number;
  finishedAt: number | null;
  /** A newer view arrived before this handoff finished; that view's handoff took over. */
  superseded: boolean;
}

export interface NodeStatus {
  nodeId: string;
  epoch: number;
  membersInMemory: number;
  moves: MoveProgress | null;
  /** Members other nodes shipped here since this node started (live migration), by outcome. */
  received: InstallAnswer;
}

export interface PreviewAnswer {
  nodeId: string;
  membersInMemory: number;
  /** Members in memory here that the previewed ring gives to each other node. */
  moves: Record<string, number>;
}

export interface ChangePlan {
  fromEpoch: number;
  toEpoch: number;
  /** Members in memory that move, per (from, to); nodes that did not answer are listed apart. */
  moves: { from: string; to: string; members: number }[];
  membersInMemory: number;
  membersMoving: number;
  unreachable: string[];
  /** Share of the whole key space (members in memory or not) that changes owner. */
  keyspaceShareMoving: number;
  /** The least a ring change could move: the share of the nodes that joined or left. */
  idealShare: number;
}

const INTERNAL_TIMEOUT_MS = 2000;
/**
 * How long an announced member's requests wait on its new owner for the shipment before they
 * load it from the store. Below the forwarders' timeout, so a forwarded request still answers.
 */
const INSTALL_WAIT_MS = 2000;
/**
 * Batches of members shipped at once per sending node (each of moveConcurrency members). A batch
 * is three round trips and little work (tens of thousands of members a second in one process):
 * its time is the nodes' queues, which batches in flight overlap.
 */
const MIGRATION_BATCHES_IN_FLIGHT = 4;
/** An install batch is split so no request body grows past this (heavy members). */
const MAX_SHIPMENT_BYTES = 4 * 1024 * 1024;
/** A warm-up batch waits behind the receiver's own bound on loads (other senders' batches). */
const WARM_TIMEOUT_MS = 60_000;
/** View reads and the join of a start on STORE_UNAVAILABLE: 5 in all, 0.25 s, 0.5 s, ... apart (2.5 s of waits). */
const START_READ_ATTEMPTS = 5;
const START_READ_BACKOFF_MS = 250;

export class ClusterNode {
  readonly #settings: ClusterConfig;
  readonly #store: MembershipStore;
  readonly #actors: LocalActors;
  readonly #peers: Peers;
  readonly #log: Logger;
  readonly #now: () => number;
  #address = '';
  #view: ClusterView | null = null;
  #ring: Ring | null = null;
  #refreshing: Promise<void> | null = null;
  /**
   * Real-clock start of the newest read of the view that succeeded. A request that finds it
   * older than staleAfterMs (a pause, a stall, a cut from the store) refreshes first: see ensureFresh.
   */
  #freshAt = 0;
  /**
   * After a view that jumped epochs (this node missed some), what memory holds may be stale until
   * the handoff has evicted it: the members a request already reloaded since, so each reloads once.
   */
  #reloadedSinceJump: Set<string> | null = null;
  #moves: MoveProgress | null = null;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;
  /**
   * Loads of handed-off members in flight here, over every sender: each old owner sends
   * moveConcurrency at a time, and without this bound a node joining three would take three
   * times that many claims and loads at once.
   */
  readonly #warming: LimitFunction;
  readonly #received: InstallAnswer = { installed: 0, skipped: 0, warmed: 0, failed: 0 };

  constructor(deps: { settings: ClusterConfig; store: MembershipStore; actors: LocalActors; peers: Peers; log: Logger; now?: () => number }) {
    this.#settings = deps.settings;
    this.#store = deps.store;
    this.#actors = deps.actors;
    this.#peers = deps.peers;
    this.#log = deps.log;
    // Cluster timing (heartbeats, failure detection) is infrastructure: always the real clock,
    // even when the service's business clock is manual.
    this.#now = deps.now ?? Date.now;
    this.#warming = pLimit(deps.settings.moveConcurrency);
  }

  get nodeId(): string {
    return this.#settings.nodeId;
  }

  get started(): boolean {
    return this.#view !== null;
  }

  get view(): ClusterView {
    if (!this.#view) throw new Error('the cluster node has not started');
    return this.#view;
  }

  /**
   * The fence this node loads a member with: its view's epoch, if the member is its own in that
   * view. Throws otherwise: a node never claims a member the ring gives to another, even when a
   * request for it was queued here before the ring changed.
   */
  fenceFor(memberId: string): OwnershipFence {
    if (!this.#view) throw new AppError('NOT_READY', 'this node has not joined its cluster yet; retry');
    const owner = this.ownerOf(memberId);
    if (owner?.id !== this.nodeId) {
      throw new AppError('OWNERSHIP_MOVED', `member ${memberId} belongs to ${owner ? `node ${owner.id}` : 'no node'} at epoch ${this.#view.epoch}, not to ${this.nodeId}; retry`);
    }
    return { epoch: this.#view.epoch, node: this.nodeId };
  }

  /** The node that owns a member in this node's view; null when the ring is empty. */
  ownerOf(memberId: string): NodeRecord | null {
    if (!this.#ring || !this.#view) return null;
    const id = this.#ring.ownerOf(memberId);
    return this.#view.nodes.find((node) => node.id === id) ?? null;
  }

  /**
   * Joins (through a member at `join`) or bootstraps, then follows the cluster. `address` is
   * where the others reach this node.
   */
  async start(address: string): Promise<void> {
    this.#address = this.#settings.advertise ?? address;
    const { clusterId, nodeId, join } = this.#settings;
    await this.#store.beat(clusterId, nodeId, this.#address, this.#now());
    if (join) {
      await this.#atStart('joining through the cluster', () =>
        this.#peers.call(join, 'POST', '/v1/admin/cluster/nodes', { id: nodeId, address: this.#address }, INTERNAL_TIMEOUT_MS * 5),
      );
    } else if (!(await this.#latestAtStart(clusterId))) {
      await this.#store.propose(firstView(clusterId, { id: nodeId, address: this.#address }, this.#now()));
    }
    let view = await this.#latestAtStart(clusterId);
    if (view && !join && !view.nodes.some((node) => node.id === nodeId && node.state !== 'removed')) {
      // Restarted after it left (or was taken out): register again, as joining; the operator's
      // next rebalance gives it members.
      view = (await this.change((current, now) => addNode(current, { id: nodeId, address: this.#address }, now))).after ?? view;
    }
    const self = view?.nodes.find((node) => node.id === nodeId);
    if (!view || !self || self.state === 'removed') {
      throw new ClusterChangeError('NODE_NOT_FOUND', `node ${nodeId} is not a member of cluster ${clusterId}; start it with --join <address of a member>`);
    }
    if (self.address !== this.#address && !join) {
      // Restarted on another address: tell the cluster where it is now.
      await this.change((current, now) => addNode(current, { id: nodeId, address: this.#address }, now));
    }
    const readAt = this.#now();
    await this.#apply((await this.#latestAtStart(clusterId)) ?? view);
    this.#freshAt = readAt;
    this.#every(this.#settings.heartbeatIntervalMs, () => this.#store.beat(clusterId, nodeId, this.#address, this.#now()));
    this.#every(this.#settings.pollIntervalMs, async () => {
      await this.refresh();
      await this.#detectFailures();
    });
  }

  /**
   * A view read of the start, read again on STORE_UNAVAILABLE (bounded). With one Cassandra node
   * cut off from its peers, a SERIAL read that node coordinates times out; the process used to
   * exit on that one answer, after it had already joined, so the cluster gave members to a node
   * that was gone (seen in test/faults/three-nodes-partition.test.ts). The next read goes to
   * another coordinator. Other errors (a bug, a bad config) still fail the start at once.
   */
  #latestAtStart(clusterId: string): Promise<ClusterView | null> {
    return this.#atStart('reading the cluster view', () => this.#store.latest(clusterId));
  }

  /**
   * One step of the start, tried again (bounded) while the store answers STORE_UNAVAILABLE, or the
   * member it joins through answers 503 (its store unavailable, or not ready: both pass). Both steps are safe to repeat: a read, and a join that a
   * member applies once (the same node at the same address joining again changes nothing).
   */
  async #atStart<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        const storeTrouble = (error as { code?: unknown }).code === 'STORE_UNAVAILABLE' || (error instanceof PeerCallError && error.status === 503);
        if (!storeTrouble || attempt >= START_READ_ATTEMPTS) throw error;
        this.#log.warn({ attempt, err: error }, `${what} at start failed; trying again`);
        await new Promise((resolve) => setTimeout(resolve, START_READ_BACKOFF_MS * attempt));
      }
    }
  }

  #every(intervalMs: number, task: () => Promise<void>): void {
    // Each round starts after the previous one ends (no pile-up when Cassandra is slow).
    const round = (): void => {
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        task()
          .catch((error: unknown) => this.#log.warn({ err: error }, 'cluster background task failed; it runs again'))
          .finally(round);
      }, intervalMs);
      timer.unref();
      this.#timers.add(timer);
    };
    round();
  }

  /**
   * How old this node's view may be when it answers a member's request: half the failure
   * timeout. Past it, the node may have been taken out of the ring, or its members moved, while it
   * could not see it (docs/cluster.md, "How stale a check can be").
   */
  get staleAfterMs(): number {
    return Math.floor(this.#settings.failureTimeoutMs / 2);
  }

  /**
   * Makes sure the view this node routes by was read less than staleAfterMs ago, reading it
   * again (bounded) if not. A read already in flight counts only if it started after the
   * staleness was seen: one started before a pause may carry the view from before it. Throws
   * NOT_READY (503, Retry-After) when the store does not answer in time.
   */
  async ensureFresh(): Promise<void> {
    const asked = this.#now();
    if (asked - this.#freshAt <= this.staleAfterMs) return;
    const deadline = asked + Math.max(this.#settings.forwardTimeoutMs, 1000);
    let lastError: unknown = null;
    while (this.#freshAt < asked && this.#now() < deadline && !this.#closed) {
      try {
        await withTimeout(this.refresh(), deadline - this.#now());
      } catch (error) {
        lastError = error;
        break;
      }
    }
    if (this.#freshAt < asked) {
      this.#log.warn({ err: lastError, ageMs: asked - this.#freshAt }, 'cluster view too old and could not be read again; answering 503');
      throw new AppError('NOT_READY', `node ${this.nodeId} lost touch with its cluster for ${asked - this.#freshAt} ms and could not read the membership again; retry`);
    }
  }

  /**
   * True once per member while a view that jumped epochs is being handed off: the member may
   * have lived on another node meanwhile, so the request first drops it from memory (reload).
   */
  async reloadIfJumped(memberId: string): Promise<void> {
    const reloaded = this.#reloadedSinceJump;
    if (!reloaded || reloaded.has(memberId)) return;
    reloaded.add(memberId);
    // Busy or already gone: either way its next load reads the store's head.
    await this.#actors.evict(memberId).catch(() => false);
  }

  /** Reads the newest view and applies it if it is newer. Concurrent callers share one read. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      const startedAt = this.#now();
      try {
        const latest = await this.#store.latest(this.#settings.clusterId);
        if (latest) await this.#apply(latest);
        this.#freshAt = Math.max(this.#freshAt, startedAt);
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  /**
   * A write was refused by a newer fence: this node's view is old. Reads the view again before
   * the refusal is answered (bounded), so the caller's retry, sent the moment it reads the 503,
   * is routed by the new view and not refused here a second time. A read already in flight
   * counts only if it started after the refusal (one started before a pause carries the old view).
   */
  async catchUpAfterRefusal(): Promise<void> {
    const refusedAt = this.#now();
    const deadline = refusedAt + Math.max(this.#settings.forwardTimeoutMs, 1000);
    try {
      while (this.#freshAt < refusedAt && this.#now() < deadline && !this.#closed) {
        await withTimeout(this.refresh(), deadline - this.#now());
      }
    } catch (error) {
      // The refusal is answered anyway; the poll catches up later.
      this.#log.warn({ err: error }, 'cluster refresh after a refused write failed');
    }
  }

  /**
   * Changes the membership: `mutate` gets the newest view and returns the next one (or null:
   * nothing to do). Retries when another change takes the epoch first. Every node is told.
   */
  async change(mutate: (view: ClusterView, now: number) => ClusterView | null): Promise<{ before: ClusterView; after: ClusterView | null }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const current = await this.#store.latest(this.#settings.clusterId);
      if (!current) throw new Error('the cluster has no view');
      const proposed = mutate(current, this.#now());
      if (!proposed) return { before: current, after: null };
      if (await this.#store.propose(proposed)) {
        this.#log.info({ epoch: proposed.epoch, reason: proposed.reason, ring: ringNodes(proposed) }, 'cluster view changed');
        await this.#apply(proposed);
        this.#tellOthers(proposed);
        return { before: current, after: proposed };
      }
    }
    throw new ClusterChangeError('CLUSTER_CHANGE_REFUSED', 'the membership kept changing under this request; retry');
  }

  /** Pushes a new view to every other live node (they would also find it by polling). */
  #tellOthers(view: ClusterView): void {
    for (const node of view.nodes) {
      if (node.id === this.nodeId || node.state === 'removed') continue;
      void this.#peers.call(node.address, 'POST', '/v1/internal/cluster/refresh', {}, INTERNAL_TIMEOUT_MS).catch(() => {});
    }
  }

  /** What a ring change would move, asked of every live node (bounded: silent nodes are listed apart). */
  async preview(before: ClusterView, after: ClusterView): Promise<ChangePlan> {
    const owners = ringNodes(after);
    const answers = await Promise.all(
      before.nodes
        .filter((node) => node.state !== 'removed')
        .map(async (node) => {
          try {
            const answer =
              node.id === this.nodeId
                ? await this.previewLocal(owners)
                : await this.#peers.call<PreviewAnswer>(node.address, 'POST', '/v1/internal/cluster/preview', { owners }, INTERNAL_TIMEOUT_MS);
            return { node: node.id, answer };
          } catch {
            return { node: node.id, answer: null };
          }
        }),
    );
    const moves: ChangePlan['moves'] = [];
    let membersInMemory = 0;
    for (const { node, answer } of answers) {
      if (!answer) continue;
      membersInMemory += answer.membersInMemory;
      for (const [to, members] of Object.entries(answer.moves)) moves.push({ from: node, to, members });
    }
    const beforeRing = ringOf(before, this.#settings.vnodes);
    const afterRing = ringOf(after, this.#settings.vnodes);
    const joined = ringNodes(after).filter((id) => !ringNodes(before).includes(id)).length;
    const left = ringNodes(before).filter((id) => !ringNodes(after).includes(id)).length;
    const size = Math.max(ringNodes(after).length, ringNodes(before).length, 1);
    return {
      fromEpoch: before.epoch,
      toEpoch: after.epoch,
      moves,
      membersInMemory,
      membersMoving: moves.reduce((sum, move) => sum + move.members, 0),
      unreachable: answers.filter((a) => !a.answer).map((a) => a.node),
      keyspaceShareMoving: keyspaceShareMoving(beforeRing, afterRing),
      idealShare: Math.min(1, Math.max(joined, left) / size),
    };
  }

  /** This node's members in memory that a ring of `owners` would give to other nodes. */
  async previewLocal(owners: string[]): Promise<PreviewAnswer> {
    const ids = await this.#actors.memberIds();
    // Counted in a Map: node ids may be any name, `__proto__` included, which a `{}` would lose.
    const moves = new Map<string, number>();
    if (owners.length > 0) {
      const ring = createRing(owners, { vnodes: this.#settings.vnodes });
      await inSlices(ids, (id) => {
        const to = ring.ownerOf(id);
        if (to !== this.nodeId) moves.set(to, (moves.get(to) ?? 0) + 1);
      });
    }
    return { nodeId: this.nodeId, membersInMemory: ids.length, moves: Object.fromEntries(moves) };
  }

  async status(): Promise<NodeStatus> {
    return { nodeId: this.nodeId, epoch: this.#view?.epoch ?? 0, membersInMemory: await this.#actors.memberCount(), moves: this.#moves, received: { ...this.#received } };
  }

  /** The new owner's half of a handoff: load (claim) the members this node owns at `epoch`. */
  async warm(epoch: number, memberIds: string[]): Promise<{ warmed: number; skipped: number; failed: number }> {
    if (epoch > (this.#view?.epoch ?? 0)) await this.refresh();
    let warmed = 0;
    let skipped = 0;
    let failed = 0;
    await Promise.all(
      memberIds.map((memberId) =>
        this.#warming(async () => {
          if (this.ownerOf(memberId)?.id !== this.nodeId) {
            skipped += 1;
            return;
          }
          try {
            await this.#actors.warm(memberId);
            warmed += 1;
          } catch (error) {
            failed += 1;
            this.#log.warn({ memberId, err: error }, 'warming a handed-off member failed; it loads on its next request');
          }
        }),
      ),
    );
    return { warmed, skipped, failed };
  }

  /**
   * The new owner's first half of a live migration: members about to be shipped here. Their
   * requests wait for the shipment in their mailboxes (bounded), instead of loading them from
   * the store while the old owner still finishes their commands. Answers how many will wait.
   */
  async incoming(epoch: number, memberIds: string[]): Promise<{ expecting: number }> {
    if (epoch > (this.#view?.epoch ?? 0)) await this.refresh();
    const waitMs = Math.min(INSTALL_WAIT_MS, Math.floor(this.#settings.forwardTimeoutMs / 2));
    const answers = await Promise.all(
      memberIds.map((memberId) => (this.ownerOf(memberId)?.id === this.nodeId ? this.#actors.expectInstall(memberId, waitMs).catch(() => false) : Promise.resolve(false))),
    );
    return { expecting: answers.filter(Boolean).length };
  }

  /**
   * The new owner's second half: installs the shipped members it owns, with no store read. One
   * shipped without state (its export failed) is loaded from the store instead (warm).
   */
  async install(epoch: number, shipments: Shipment[]): Promise<InstallAnswer> {
    if (epoch > (this.#view?.epoch ?? 0)) await this.refresh();
    const answer: InstallAnswer = { installed: 0, skipped: 0, warmed: 0, failed: 0 };
    await Promise.all(
      shipments.map(async ({ memberId, member }) => {
        if (this.ownerOf(memberId)?.id !== this.nodeId) {
          answer.skipped += 1;
          return;
        }
        try {
          if (member) {
            answer[(await this.#actors.install(memberId, member)) ? 'installed' : 'skipped'] += 1;
            return;
          }
          // Release its waiting requests, then load it from the store.
          await this.#actors.install(memberId, null);
          await this.#warming(() => this.#actors.warm(memberId));
          answer.warmed += 1;
        } catch (error) {
          answer.failed += 1;
          this.#log.warn({ memberId, err: error }, 'installing a shipped member failed; it loads on its next request');
        }
      }),
    );
    for (const key of ['installed', 'skipped', 'warmed', 'failed'] as const) this.#received[key] += answer[key];
    return answer;
  }

  async #apply(view: ClusterView): Promise<void> {
    const previous = this.#view;
    if (previous && view.epoch <= previous.epoch) return;
    this.#view = view;
    this.#ring = ringOf(view, this.#settings.vnodes);
    // Set before any request can be routed by the new view (the handoff starts asynchronously).
    if (previous && view.epoch > previous.epoch + 1) this.#reloadedSinceJump = new Set();
    if (previous) {
      this.#log.info({ from: previous.epoch, to: view.epoch, reason: view.reason }, 'following a new cluster view');
      void this.#handOff(previous, view).catch((error: unknown) => {
        // The node is closing, or its actors failed mid-handoff: the members it still holds
        // are fenced anyway, and they reload on their new owners when asked.
        if (this.#moves) this.#moves.finishedAt ??= this.#now();
        this.#log.warn({ epoch: view.epoch, err: error }, 'handoff stopped early');
      });
    }
  }

  async #handOff(previous: ClusterView, view: ClusterView): Promise<void> {
    const ids = await this.#actors.memberIds();
    // One epoch at a time, a member that stays here stayed here all along. Across a jump (this
    // node missed views: paused, partitioned), a member may have lived elsewhere meanwhile and
    // what is in memory may be stale: evict everything; it reloads with a fresh claim.
    const jumped = view.epoch > previous.epoch + 1;
    const moving: string[] = [];
    await inSlices(ids, (id) => {
      if (jumped || this.ownerOf(id)?.id !== this.nodeId) moving.push(id);
    });
    if (this.#moves && this.#moves.finishedAt === null) this.#moves.superseded = true;
    const progress: MoveProgress = {
      epoch: view.epoch,
      planned: moving.length,
      released: 0,
      warmed: 0,
      installed: 0,
      failed: 0,
      inFlight: 0,
      // Keyed by node id, which may be `__proto__`: no prototype to find or to set.
      byTarget: Object.create(null) as Record<string, number>,
      startedAt: this.#now(),
      finishedAt: null,
      superseded: false,
    };
    this.#moves = progress;
    const size = this.#settings.moveConcurrency;
    const chunks: string[][] = [];
    for (let start = 0; start < moving.length; start += size) chunks.push(moving.slice(start, start + size));
    // A shipment costs the store nothing, only round trips: several batches travel at once, so
    // their round trips overlap. Loads from the store stay one batch at a time.
    const lanes = this.#settings.liveMigration && !jumped ? MIGRATION_BATCHES_IN_FLIGHT : 1;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(lanes, chunks.length) }, async () => {
        for (let chunk = chunks[next++]; chunk; chunk = chunks[next++]) {
          if (this.#closed || this.#view?.epoch !== view.epoch) {
            progress.superseded = true;
            return;
          }
          progress.inFlight += chunk.length;
          try {
            await this.#moveChunk(view.epoch, chunk, jumped, progress);
          } finally {
            progress.inFlight -= chunk.length;
          }
        }
      }),
    );
    if (progress.superseded) return;
    if (jumped) this.#reloadedSinceJump = null; // everything stale has left memory
    progress.finishedAt = this.#now();
    this.#log.info(
      { epoch: view.epoch, moved: progress.planned, installed: progress.installed, warmed: progress.warmed, failed: progress.failed, ms: progress.finishedAt - progress.startedAt },
      'handoff finished',
    );
  }

  /** Hands off one batch: shipped to each new owner (live migration), or evicted here and warmed there. */
  async #moveChunk(epoch: number, chunk: string[], jumped: boolean, progress: MoveProgress): Promise<void> {
    const byOwner = new Map<string, { node: NodeRecord; ids: string[] }>();
    for (const id of chunk) {
      const owner = this.ownerOf(id);
      if (!owner) continue;
      const entry = byOwner.get(owner.id) ?? { node: owner, ids: [] };
      entry.ids.push(id);
      byOwner.set(owner.id, entry);
    }
    // Across an epoch jump what memory holds may be stale: only a reload from the store will do.
    const migrating = this.#settings.liveMigration && !jumped ? [...byOwner.values()].filter(({ node }) => node.id !== this.nodeId) : [];
    const shipping = new Set(migrating.flatMap(({ ids: members }) => members));
    await Promise.all(chunk.filter((id) => !shipping.has(id)).map((id) => this.#actors.evict(id).catch(() => false)));
    progress.released += chunk.length - shipping.size;
    await Promise.all(
      [...byOwner.values()].map(async ({ node, ids: members }) => {
        progress.byTarget[node.id] = (progress.byTarget[node.id] ?? 0) + members.length;
        if (shipping.has(members[0] as string)) {
          await this.#migrate(epoch, node, members, progress);
          return;
        }
        try {
          const answer =
            node.id === this.nodeId
              ? await this.warm(epoch, members)
              : await this.#peers.call<{ warmed: number; failed: number }>(node.address, 'POST', '/v1/internal/cluster/warm', { epoch, members }, WARM_TIMEOUT_MS);
          progress.warmed += answer.warmed;
          progress.failed += answer.failed;
        } catch (error) {
          progress.failed += members.length;
          this.#log.warn({ to: node.id, members: members.length, err: error }, 'handoff: the new owner did not warm the members; they load on their next request');
        }
      }),
    );
  }

  /**
   * Live migration of one batch to its new owner: announce (its requests there wait for the
   * shipment), export here (queued commands finish first), install there. A new owner that does
   * not take the announcement gets the handoff through the store (evict here, warm there); members whose
   * shipment fails load from the store on their next request.
   */
  async #migrate(epoch: number, node: NodeRecord, members: string[], progress: MoveProgress): Promise<void> {
    try {
      await this.#peers.call<{ expecting: number }>(node.address, 'POST', '/v1/internal/cluster/incoming', { epoch, members }, INTERNAL_TIMEOUT_MS);
    } catch (error) {
      this.#log.warn({ to: node.id, members: members.length, err: error }, 'handoff: the new owner did not take the announcement; handing these members off through the store');
      await Promise.all(members.map((id) => this.#actors.evict(id).catch(() => false)));
      progress.released += members.length;
      try {
        const answer = await this.#peers.call<{ warmed: number; failed: number }>(node.address, 'POST', '/v1/internal/cluster/warm', { epoch, members }, WARM_TIMEOUT_MS);
        progress.warmed += answer.warmed;
        progress.failed += answer.failed;
      } catch {
        progress.failed += members.length;
      }
      return;
    }
    const shipments = await Promise.all(
      members.map(async (memberId): Promise<Shipment> => {
        try {
          return { memberId, member: await this.#actors.export(memberId) };
        } catch (error) {
          // Not shipped, but it must not stay here either: its new owner loads it instead.
          this.#log.warn({ memberId, err: error }, 'handoff: exporting a member failed; its new owner loads it from the store');
          await this.#actors.evict(memberId).catch(() => false);
          return { memberId, member: null };
        }
      }),
    );
    progress.released += members.length;
    for (const batch of byBytes(shipments, MAX_SHIPMENT_BYTES)) {
      try {
        const answer = await this.#peers.call<InstallAnswer>(node.address, 'POST', '/v1/internal/cluster/install', { epoch, members: batch }, WARM_TIMEOUT_MS);
        progress.installed += answer.installed;
        progress.warmed += answer.warmed;
        progress.failed += answer.failed;
      } catch (error) {
        progress.failed += batch.length;
        this.#log.warn({ to: node.id, members: batch.length, err: error }, 'handoff: the new owner did not install the shipped members; they load on their next request');
      }
    }
  }

  /** Takes silent nodes out of the ring (any node may; the epoch's CAS lets one change win). */
  async #detectFailures(): Promise<void> {
    const view = this.#view;
    if (!view) return;
    const self = view.nodes.find((node) => node.id === this.nodeId);
    if (!self || self.state === 'removed') return; // a removed node does not judge the others
    const beats = await this.#store.beats(this.#settings.clusterId);
    const silent = silentNodes(view, beats, this.#now(), this.#settings.failureTimeoutMs).filter((id) => id !== this.nodeId);
    for (const id of silent) {
      try {
        await this.change((current, now) => {
          const node = current.nodes.find((n) => n.id === id);
          if (!node || (node.state !== 'active' && node.state !== 'draining')) return null;
          // Judge again on the newest view: it may have beaten since.
          if (!silentNodes(current, beats, now, this.#settings.failureTimeoutMs).includes(id)) return null;
          return removeNode(current, id, now, `node ${id} silent for over ${this.#settings.failureTimeoutMs} ms`);
        });
      } catch (error) {
        this.#log.warn({ node: id, err: error }, 'could not take a silent node out of the ring');
      }
    }
  }

  /**
   * Leaves the cluster on a graceful stop: drains this node (its members move to the others
   * while it still forwards), waits for the handoff, then removes itself. Bounded: past the
   * timeout it stops anyway, and the failure detector finishes the job. The last node in the
   * ring has nobody to hand off to and just stops.
   */
  async leave(timeoutMs: number): Promise<void> {
    if (!this.#view) return;
    const deadline = this.#now() + timeoutMs;
    try {
      const self = this.#view.nodes.find((node) => node.id === this.nodeId);
      if (self?.state === 'active' || self?.state === 'joining') {
        await this.change((current, now) =>
          current.nodes.some((n) => n.id === this.nodeId && (n.state === 'active' || n.state === 'joining')) ? drainNode(current, this.nodeId, now) : null,
        );
      }
      while (this.#now() < deadline && this.#moves !== null && this.#moves.finishedAt === null && !this.#moves.superseded) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await this.change((current, now) =>
        current.nodes.some((n) => n.id === this.nodeId && n.state !== 'removed') ? removeNode(current, this.nodeId, now, `node ${this.nodeId} left`) : null,
      );
    } catch (error) {
      if ((error as { code?: unknown }).code === 'CLUSTER_CHANGE_REFUSED') this.#log.info({ node: this.nodeId }, 'the last node in the ring stops without a handoff');
      else this.#log.warn({ err: error }, 'could not leave the cluster cleanly; the others will notice the silence');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await this.#refreshing?.catch(() => {});
  }
}

/** Rejects when `promise` takes longer than `ms` (the promise itself runs on). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the membership store in ${ms} ms`)), Math.max(0, ms));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Splits shipments into batches whose state text stays under `maxBytes` (one member may exceed it alone). */
function byBytes(shipments: Shipment[], maxBytes: number): Shipment[][] {
  const batches: Shipment[][] = [];
  let current: Shipment[] = [];
  let bytes = 0;
  for (const shipment of shipments) {
    const size = 256 + (shipment.member?.state.length ?? 0);
    if (current.length > 0 && bytes + size > maxBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(shipment);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Visits every id, yielding to the event loop between slices: a ring lookup costs about 5 µs, so
 * tens of thousands of members in one go would stall every request this node serves meanwhile.
 */
async function inSlices(ids: readonly string[], visit: (id: string) => void, slice = 1000): Promise<void> {
  for (let start = 0; start < ids.length; start += slice) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    for (let i = start; i < Math.min(ids.length, start + slice); i++) visit(ids[i] as string);
  }
}

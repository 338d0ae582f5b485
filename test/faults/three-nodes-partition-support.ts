/**
 * Pieces of test/faults/three-nodes-partition.test.ts: the firewall rules that cut one Cassandra
 * node from its peers, a count of conditional appends whose outcome the driver left unknown (and
 * how the store resolved each), an edge load that counts its acquires and checks, and the checks
 * of the stored histories (every acknowledged acquire once, no request applied twice).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import cassandra from 'cassandra-driver';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import { isUnknownOutcome } from '../../src/store/cassandra/driver-errors.ts';
import type { EventStore } from '../../src/store/event-store.ts';
import { call, DEVICES, historyProblems, TITLES, type Acknowledged } from '../cluster/cluster-support.ts';
import { historyOf } from '../cluster/cluster-support.ts';
import type { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';

// ---------------------------------------------------------------- firewall (iptables)

/** Our own chain, jumped to from INPUT and OUTPUT: removing it removes every rule this file made. */
const CHAIN = 'LA-FAULTS-PARTITION';
/** The cgroup (v2) the cut node's JVM is moved into, so its own outgoing connections can be matched. */
const CGROUP = 'la-faults-partition';

function run(command: string, args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }) };
  } catch (error) {
    const e = error as { stderr?: unknown; message?: string };
    return { ok: false, output: typeof e.stderr === 'string' && e.stderr ? e.stderr.trim() : (e.message ?? String(error)) };
  }
}

const iptables = (args: string[]): { ok: boolean; output: string } => run('iptables', ['-w', '5', ...args]);

/** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
function cgroup2Root(): string | undefined {
  try {
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n');
    return mounts.map((line) => line.split(' ')).find((fields) => fields[2] === 'cgroup2')?.[1];
  } catch {
    return undefined;
  }
}

/** Why the partition cannot be made here (not root, iptables, ss or cgroup v2 missing), or null. */
export function partitionUnavailable(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return `not root (uid ${process.getuid()})`;
  const listed = iptables(['-L', 'INPUT', '-n']);
  if (!listed.ok) return `iptables -L INPUT failed: ${listed.output}`;
  const ss = run('ss', ['-V']);
  if (!ss.ok) return `ss (iproute2) failed: ${ss.output}`;
  if (!cgroup2Root()) return "no cgroup v2 mount (iptables cannot tell the cut node's outgoing connections apart)";
  return null;
}

/** Removes our chain, its jumps and the cgroup (left over by an interrupted run, or at teardown). Idempotent. */
export function healPartition(): void {
  // A jump may have been added more than once by interrupted runs: delete until none is left.
  for (const hook of ['INPUT', 'OUTPUT']) for (let i = 0; i < 10 && iptables(['-D', hook, '-j', CHAIN]).ok; i++);
  iptables(['-F', CHAIN]);
  iptables(['-X', CHAIN]);
  const root = cgroup2Root();
  if (!root) return;
  const group = join(root, CGROUP);
  if (!existsSync(group)) return;
  // Processes still in it go back to the root group; then the empty group can go.
  for (const pid of readFileSync(join(group, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
    try {
      writeFileSync(join(root, 'cgroup.procs'), pid);
    } catch {
      // exited meanwhile
    }
  }
  try {
    rmdirSync(group);
  } catch {
    // still busy: the next run's heal removes it
  }
}

/**
 * Cuts the Cassandra node `cut` (its address and JVM pid) from its peers: every packet of
 * node-to-node traffic (the internode `storagePort`) to or from it is dropped, both ways.
 *
 * Cassandra connects to its peers from 127.0.0.1 (the kernel's source address on loopback), not
 * from its own listen address, so addresses alone cannot single out the cut node's outgoing
 * connections: its JVM is moved into a cgroup of its own and iptables matches that cgroup (OUTPUT;
 * its connections made before the move are closed, so that it makes them again from inside).
 * Connections into the cut node are matched by its address and the storage port (INPUT: the
 * sender sees silence, as on a real partition). The native (CQL) port is never matched: the
 * service's driver keeps reaching every node, the cut one included.
 */
export function cutFromPeers(cut: { address: string; pid: number }, peers: readonly string[], storagePort: number): string[] {
  healPartition();
  const root = cgroup2Root();
  if (!root) throw new Error('no cgroup v2 mount');
  const group = join(root, CGROUP);
  mkdirSync(group, { recursive: true });
  writeFileSync(join(group, 'cgroup.procs'), String(cut.pid));
  const port = String(storagePort);
  const rules = [
    ['INPUT', '-d', cut.address, '-p', 'tcp', '--dport', port],
    ['INPUT', '-s', cut.address, '-p', 'tcp', '--sport', port],
    ...peers.map((peer) => ['OUTPUT', '-m', 'cgroup', '--path', CGROUP, '-d', peer, '-p', 'tcp', '--dport', port]),
  ];
  const steps = [['-N', CHAIN], ...rules.map(([, ...match]) => ['-A', CHAIN, ...match, '-j', 'DROP']), ['-I', 'INPUT', '1', '-j', CHAIN], ['-I', 'OUTPUT', '1', '-j', CHAIN]];
  for (const step of steps) {
    const done = iptables(step);
    if (!done.ok) {
      healPartition();
      throw new Error(`iptables ${step.join(' ')} failed: ${done.output}`);
    }
  }
  // Its outgoing connections made before the move are not in the cgroup: close them (ss -K); the
  // ones it opens again are, and are dropped.
  const own = run('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`]);
  for (const line of own.output.split('\n').filter((l) => l.includes(`pid=${cut.pid},`))) {
    const local = /\s(\S+):(\d+)\s+(\S+):(\d+)\s/.exec(line);
    if (local) run('ss', ['-tnK', `( sport = :${local[2]} and dport = :${port} )`]);
  }
  return rules.map(([hook, ...match]) => `${hook}: ${match.join(' ')} DROP`);
}

/** Packets our rules dropped so far (iptables' own counters). */
export function droppedPackets(): number {
  const listed = iptables(['-L', CHAIN, '-n', '-v', '-x']);
  if (!listed.ok) return 0;
  let total = 0;
  for (const line of listed.output.split('\n')) {
    const match = /^\s*(\d+)\s+\d+\s+DROP\b/.exec(line);
    if (match) total += Number(match[1]);
  }
  return total;
}

// ---------------------------------------------------------------- unknown LWT outcomes

const TrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => object }).RequestTracker;

/** How the store ended an append whose conditional batch came back with an unknown outcome. */
export type Resolution = 'applied' | 'not-applied' | 'conflict' | 'unresolved';

/**
 * Sees every request the store's driver completes (the driver's RequestTracker hook) and, with
 * `watchAppends`, every append the service makes: an append during which the driver reported its
 * conditional batch as of unknown outcome (a client-side timeout, a coordinator's write timeout)
 * is classified by what the store then answered. The store resolves such an outcome itself, by
 * a read at SERIAL (cassandra-event-store.ts, #resolveUnknownAppend); this only watches it.
 */
export class UnknownOutcomes extends TrackerBase implements cassandra.tracker.RequestTracker {
  /** Conditional batches the driver failed with an unknown outcome. */
  unknownBatches = 0;
  /** SERIAL reads that failed (a read-back that could not resolve an outcome, among others). */
  failedSerialReads = 0;
  readonly resolutions = new Map<Resolution, number>();
  /** Requests each Cassandra host (as the driver names it) served. */
  readonly served = new Map<string, number>();
  readonly #inFlight = new Map<string, { unknown: boolean }>();

  onSuccess(host: cassandra.Host): void {
    this.served.set(host.address, (this.served.get(host.address) ?? 0) + 1);
  }

  onError(_host: cassandra.Host, query: unknown, _parameters: unknown, options: cassandra.ExecutionOptions | undefined, _length: number, error: Error): void {
    if (Array.isArray(query)) {
      if (!isUnknownOutcome(error)) return;
      this.unknownBatches += 1;
      // The batch's statements carry the member id among their parameters.
      const params = (query as { params?: unknown[] }[]).flatMap((q) => q.params ?? []);
      for (const value of params) {
        const append = typeof value === 'string' ? this.#inFlight.get(value) : undefined;
        if (append) append.unknown = true;
      }
    } else if (options?.getConsistency?.() === cassandra.types.consistencies.localSerial || options?.getConsistency?.() === cassandra.types.consistencies.serial) {
      this.failedSerialReads += 1;
    }
  }

  shutdown(): void {}

  /** Replaces `store.append` by one that records how each append with an unknown outcome ended. */
  watchAppends(store: EventStore): void {
    const append = store.append.bind(store);
    store.append = async (memberId, expected, events, fence) => {
      // One append per member at a time: the member's actor runs its commands one by one.
      const entry = { unknown: false };
      this.#inFlight.set(memberId, entry);
      try {
        const head = await append(memberId, expected, events, fence);
        if (entry.unknown) this.#count('applied');
        return head;
      } catch (error) {
        if (entry.unknown) {
          const e = error as { code?: unknown; outcome?: unknown };
          this.#count(e.code === 'STORE_UNAVAILABLE' ? (e.outcome === 'not-applied' ? 'not-applied' : 'unresolved') : 'conflict');
        }
        throw error;
      } finally {
        this.#inFlight.delete(memberId);
      }
    };
  }

  #count(resolution: Resolution): void {
    this.resolutions.set(resolution, (this.resolutions.get(resolution) ?? 0) + 1);
  }

  describe(): string {
    const parts = (['applied', 'not-applied', 'conflict', 'unresolved'] as const).map((r) => `${r} ${this.resolutions.get(r) ?? 0}`);
    return `${this.unknownBatches} conditional batch(es) of unknown outcome; the store resolved them: ${parts.join(', ')}; ${this.failedSerialReads} SERIAL read(s) failed`;
  }
}

// ---------------------------------------------------------------- edge load

export interface CountedLoad {
  acquires: number;
  checks: number;
  releases: number;
  /** Acquires answered 201, with the request id the edge sent (and retried with). */
  acquired: (Acknowledged & { requestId: string })[];
  /** Every answer and transport failure by code ("201", "409 LIMIT..." or "503 STORE_UNAVAILABLE"). */
  codes: Map<string, number>;
  /** Requests still without a non-5xx answer after all their retries. */
  unanswered: { op: string; memberId: string; last: string }[];
  /** 5xx answers with a code outside `allowed5xx`, or a 500. */
  unexpected: string[];
  seconds: number;
}

/**
 * An edge that spreads acquires (most), checks and releases over the `targets()` and retries
 * 5xx with the same request id (so a retried command is never applied twice), like
 * cluster-support.ts's startEdgeLoad, but counting each kind of request and each answer's code.
 */
export function startCountedLoad(options: { targets: () => string[]; members: string[]; concurrency: number; maxRetryMs: number; allowed5xx: ReadonlySet<string> }): {
  stop(): Promise<CountedLoad>;
} {
  const t0 = Date.now();
  const load: CountedLoad = { acquires: 0, checks: 0, releases: 0, acquired: [], codes: new Map(), unanswered: [], unexpected: [], seconds: 0 };
  const owned = new Map<string, string[]>();
  let running = true;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
  const tally = (key: string): void => void load.codes.set(key, (load.codes.get(key) ?? 0) + 1);

  const attempt = async (op: string, memberId: string, path: string, method: 'GET' | 'POST', body?: unknown) => {
    const started = Date.now();
    let last = '';
    for (let round = 0; Date.now() - started < options.maxRetryMs; round++) {
      try {
        const answer = await call(`${pick(options.targets())}${path}`, method, body);
        const code = (answer.body as { code?: unknown } | null)?.code;
        last = `${answer.status}${typeof code === 'string' ? ` ${code}` : ''}`;
        tally(last);
        if (answer.status < 500) return answer;
        if (answer.status === 500 || !options.allowed5xx.has(String(code))) load.unexpected.push(`${op} ${memberId}: ${last}`);
      } catch (error) {
        last = `no answer ${(error as { code?: string }).code ?? 'CONNECTION'}`;
        tally(last);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * (round + 1), 300)));
    }
    load.unanswered.push({ op, memberId, last });
    return null;
  };

  const worker = async (): Promise<void> => {
    while (running) {
      const memberId = pick(options.members);
      const licenses = owned.get(memberId) ?? [];
      const roll = Math.random();
      if (roll < 0.3) {
        load.checks += 1;
        await attempt('check', memberId, `/v1/members/${memberId}/check?deviceId=${pick(DEVICES)}&titleId=${pick(TITLES)}`, 'GET');
      } else if (roll < 0.8 || licenses.length === 0) {
        load.acquires += 1;
        const requestId = randomUUID();
        const answer = await attempt('acquire', memberId, `/v1/members/${memberId}/licenses`, 'POST', { deviceId: pick(DEVICES), titleId: pick(TITLES), requestId });
        if (answer?.status === 201) {
          const licenseId = (answer.body as { licenseId: string }).licenseId;
          load.acquired.push({ memberId, licenseId, requestId });
          owned.set(memberId, [...licenses, licenseId]);
        }
      } else {
        load.releases += 1;
        const licenseId = pick(licenses);
        const answer = await attempt('release', memberId, `/v1/members/${memberId}/licenses/${licenseId}/release`, 'POST', { requestId: randomUUID() });
        if (answer?.status === 200)
          owned.set(
            memberId,
            (owned.get(memberId) ?? []).filter((id) => id !== licenseId),
          );
      }
    }
  };
  const workers = Array.from({ length: options.concurrency }, () => worker());
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      load.seconds = (Date.now() - t0) / 1000;
      return load;
    },
  };
}

// ---------------------------------------------------------------- stored histories

export interface HistoryCheck {
  /** LicenseAcquired events in the histories of the members the load touched. */
  storedAcquires: number;
  /** Acknowledged acquires with no LicenseAcquired event. */
  lost: (Acknowledged & { requestId: string })[];
  /** Gaps, repeated positions, devices over their limit, licenses or requests acquired twice. */
  problems: string[];
  /** Members whose history breaks a limit (a subset of what `problems` names). */
  overLimit: number;
}

/**
 * Reads every member's whole history: positions 1..n without gap, never more active licenses on
 * a device than the rules allow (historyProblems), every acknowledged acquire exactly once, and
 * no request id with two LicenseAcquired events (a retried command applied twice).
 */
export async function checkHistories(store: TieredEventStore, members: readonly string[], acquired: CountedLoad['acquired']): Promise<HistoryCheck> {
  const check: HistoryCheck = { storedAcquires: 0, lost: [], problems: [], overLimit: 0 };
  for (const memberId of members) {
    const rows = await historyOf(store, memberId);
    const problems = historyProblems(memberId, rows);
    if (problems.some((p) => p.includes('limit'))) check.overLimit += 1;
    check.problems.push(...problems);
    const byLicense = new Map<string, number>();
    const byRequest = new Map<string, number>();
    for (const row of rows) {
      const event = decodeEvent(row);
      if (event.type !== 'LicenseAcquired') continue;
      check.storedAcquires += 1;
      byLicense.set(event.licenseId, (byLicense.get(event.licenseId) ?? 0) + 1);
      if (row.requestId) byRequest.set(row.requestId, (byRequest.get(row.requestId) ?? 0) + 1);
    }
    for (const [requestId, count] of byRequest) if (count > 1) check.problems.push(`${memberId}: request ${requestId} acquired ${count} licenses`);
    for (const ack of acquired.filter((a) => a.memberId === memberId)) {
      const count = byLicense.get(ack.licenseId) ?? 0;
      if (count === 0) check.lost.push(ack);
      if (count > 1) check.problems.push(`${memberId}: license ${ack.licenseId} stored ${count} times`);
    }
  }
  return check;
}

/** The preamble's one line per scenario. */
export function summaryLine(scenario: string, load: CountedLoad, fault: string, check: HistoryCheck): string {
  const errors = [...load.codes].filter(([code]) => !/^2\d\d$/.test(code)).sort(([a], [b]) => a.localeCompare(b));
  return [
    'fault-campaign',
    scenario,
    `load: ${load.acquires} acquires + ${load.checks} checks (+ ${load.releases} releases) over ${load.seconds.toFixed(0)} s`,
    `fault: ${fault}`,
    `acknowledged: ${load.acquired.length} events`,
    `lost: ${check.lost.length}`,
    `over limit: ${check.overLimit}`,
    `errors seen: ${errors.map(([code, n]) => `${code} ×${n}`).join(', ') || 'none'}`,
  ].join(' | ');
}

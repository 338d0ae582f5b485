/**
 * Support for the three-node outage suite (three-nodes-outage.test.ts): its private Cassandra
 * nodes (started, killed and restarted one by one with the settings cluster.ts gave them), a
 * bounded load of acquires and checks against the in-process service with every answer counted,
 * reads of the acknowledged events at a chosen consistency (or from one node alone), and the
 * limit check of each member's stored history. Not a test file by itself.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, policies } from 'cassandra-driver';
import { agreedVersion, initialToken, schemaAgreement } from '../../cluster/cassandra/cluster.ts';
import { startCassandra, type StartResult } from '../../cluster/cassandra/node.ts';
import { nodetool } from '../../cluster/cassandra/nodetool.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import { discoveredHostsPort } from '../../src/store/cassandra/connect.ts';
import type { CassandraSettings } from '../../src/store/cassandra/cassandra-event-store.ts';
import type { EventRecord, EventStore } from '../../src/store/event-store.ts';
import type { InjectOptions } from 'fastify';
import { storedOnce } from '../cluster/cluster-support.ts';
import { testRules } from '../support/fixtures.ts';

export const RULES = testRules({ version: 'three-nodes-outage-1' });
/** Titles with no studio: per member, 3 acquires a year of each, 5 active per device, 2 devices. */
export const TITLES = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'];
export const DEVICES = ['d1', 'd2'];
/** What the README documents for a store in trouble (each with Retry-After), besides the rules' own 409s. */
export const DOCUMENTED_5XX = new Set(['STORE_UNAVAILABLE', 'STORE_CONFLICT', 'OVERLOADED']);
const NON_ERRORS = new Set(['200', '201']);

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// the nodes

export interface NodeSpec {
  index: number;
  address: string;
  runDir: string;
}

export interface Ring {
  nodes: NodeSpec[];
  port: number;
  storagePort: number;
  heapMb: number;
}

/**
 * Starts the ring fresh as cluster.ts does (same tokens, seeds, ports, hinted handoff, the same
 * cluster.json so stopCassandraCluster stops it), but node2 and node3 together once node1 answers:
 * every node is a seed, so neither bootstraps, and they take the schema from node1. Waits until
 * all three see each other and agree on the schema.
 */
export async function startRing(ring: Ring, clusterDir: string, timeoutMs: number): Promise<{ pids: number[]; ms: number }> {
  const t0 = Date.now();
  const file = { nodes: ring.nodes.map((n) => ({ name: `node${n.index + 1}`, address: n.address, port: ring.port, runDir: n.runDir })), startedAt: new Date(t0).toISOString() };
  await fs.promises.mkdir(clusterDir, { recursive: true });
  await fs.promises.writeFile(path.join(clusterDir, 'cluster.json'), JSON.stringify(file, null, 2));
  const [first, ...others] = ring.nodes as [NodeSpec, ...NodeSpec[]];
  const one = await restartNode(ring, first, timeoutMs, true);
  const rest = await Promise.all(others.map((n) => restartNode(ring, n, timeoutMs, true)));
  await waitForAgreement(ring, 60_000);
  return { pids: [one.pid, ...rest.map((r) => r.pid)], ms: Date.now() - t0 };
}

/** Until every node sees the two others and all agree on one schema version (bounded). */
export async function waitForAgreement(ring: Ring, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await schemaAgreement(ring.nodes.map((n) => ({ address: n.address, port: ring.port })));
    if (agreedVersion(answers)) return;
    if (Date.now() > deadline) throw new Error(`the nodes did not agree on the schema within ${timeoutMs} ms: ${JSON.stringify(answers)}`);
    await sleep(500);
  }
}

/** Starts a node as cluster.ts first started it (same token, seeds, ports), its data kept unless `fresh`. */
export function restartNode(ring: Ring, node: NodeSpec, timeoutMs: number, fresh = false): Promise<StartResult> {
  return startCassandra({
    runDir: node.runDir,
    address: node.address,
    port: ring.port,
    storagePort: ring.storagePort,
    seeds: ring.nodes.map((n) => `${n.address}:${ring.storagePort}`),
    initialToken: initialToken(node.index, ring.nodes.length),
    hintedHandoff: true,
    heapMb: ring.heapMb,
    fresh,
    timeoutMs,
  });
}

/** A live process, not a zombie: a killed JVM lingers as one until its parent reaps it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The command line of a live process, '' if there is none. */
function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * SIGKILL, then waits (bounded) until the JVM is gone: its sockets are closed from then on. With
 * `runDirPrefix`, only a JVM whose command line names it (a pid the OS may have handed on is left alone).
 */
export async function killNode(pid: number, runDirPrefix?: string): Promise<void> {
  if (!alive(pid)) return;
  if (runDirPrefix !== undefined && !commandLine(pid).includes(runDirPrefix)) return;
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (alive(pid)) {
    if (Date.now() > deadline) throw new Error(`Cassandra pid ${pid} still alive 10 s after SIGKILL`);
    await sleep(50);
  }
}

/** What node `via` says of every node (`nodetool status`): address to "UN", "DN", "UJ", ... */
export async function ringStatus(via: NodeSpec): Promise<Map<string, string>> {
  const out = await nodetool(['status'], { runDir: via.runDir, timeoutMs: 60_000 });
  const states = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^([UD][NLJM])\s+(\d+\.\d+\.\d+\.\d+)/.exec(line.trim());
    if (m?.[1] && m[2]) states.set(m[2], m[1]);
  }
  return states;
}

// ---------------------------------------------------------------------------
// the load

export interface Acknowledged {
  memberId: string;
  licenseId: string;
}

export interface Answered {
  op: 'acquire' | 'check';
  /** When it was sent, ms since the load started. */
  at: number;
  ms: number;
  /** "201", "200", "409 LICENSE_REFUSED", "503 STORE_UNAVAILABLE", "HANG", ... */
  key: string;
  retryAfter: string | null;
  /** The error's message, if any (what the service says went wrong). */
  message?: string;
}

export interface LoadRecord {
  answers: Answered[];
  acknowledged: Acknowledged[];
  acquires: number;
  checks: number;
  seconds: number;
}

interface InjectAnswer {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
}
/** The service's app.inject, in-process (no sockets, no HTTP timeouts: send() bounds it). */
export type Inject = (options: InjectOptions) => Promise<InjectAnswer>;

/** One request, bounded: a service that hangs is an answer too ("HANG"), not a stuck test. */
export async function send(
  inject: Inject,
  options: InjectOptions,
  boundMs: number,
): Promise<{ key: string; status: number; body: Record<string, unknown>; retryAfter: string | null; ms: number; message?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), boundMs)));
  const answer = await Promise.race([inject(options), hang]);
  clearTimeout(timer);
  const ms = performance.now() - started;
  if (answer === null) return { key: 'HANG', status: 0, body: {}, retryAfter: null, ms };
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    // not JSON: the key says the status alone
  }
  const code = typeof body['code'] === 'string' ? body['code'] : null;
  const key = code ? `${answer.statusCode} ${code}` : String(answer.statusCode);
  const retryAfter = typeof answer.headers['retry-after'] === 'string' ? answer.headers['retry-after'] : null;
  return { key, status: answer.statusCode, body, retryAfter, ms, ...(typeof body['message'] === 'string' && answer.statusCode >= 400 ? { message: body['message'] } : {}) };
}

export function acquireOptions(memberId: string, deviceId: string, titleId: string): InjectOptions {
  return { method: 'POST', url: `/v1/members/${memberId}/licenses`, payload: { deviceId, titleId, requestId: randomUUID() } };
}

export function checkOptions(memberId: string, deviceId: string, titleId: string): InjectOptions {
  return { method: 'GET', url: `/v1/members/${memberId}/check?deviceId=${deviceId}&titleId=${titleId}` };
}

/**
 * `concurrency` clients, each sending one request at a time for `durationMs`, and on until
 * `enough` says so (at most `maxDurationMs`): an acquire or a check (half each) of a random
 * member, device and title. No retries: every answer is counted as the service gave it. `during`
 * runs alongside (the fault), and the load ends when both have.
 */
export async function runLoad(
  inject: Inject,
  options: {
    members: readonly string[];
    concurrency: number;
    durationMs: number;
    maxDurationMs?: number;
    enough?: (answers: readonly Answered[]) => boolean;
    boundMs: number;
    during?: (elapsedMs: () => number) => Promise<void>;
  },
): Promise<LoadRecord> {
  const record: LoadRecord = { answers: [], acknowledged: [], acquires: 0, checks: 0, seconds: 0 };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
  const t0 = performance.now();
  const elapsed = (): number => performance.now() - t0;
  const client = async (): Promise<void> => {
    const going = (): boolean => elapsed() < options.durationMs || (elapsed() < (options.maxDurationMs ?? 0) && !(options.enough?.(record.answers) ?? true));
    while (going()) {
      const memberId = pick(options.members);
      const op = Math.random() < 0.5 ? 'check' : 'acquire';
      const at = elapsed();
      const request = op === 'check' ? checkOptions(memberId, pick(DEVICES), pick(TITLES)) : acquireOptions(memberId, pick(DEVICES), pick(TITLES));
      const answer = await send(inject, request, options.boundMs);
      if (op === 'check') record.checks += 1;
      else record.acquires += 1;
      record.answers.push({ op, at, ms: answer.ms, key: answer.key, retryAfter: answer.retryAfter, ...(answer.message ? { message: answer.message } : {}) });
      if (op === 'acquire' && answer.status === 201) record.acknowledged.push({ memberId, licenseId: String(answer.body['licenseId']) });
      if (answer.key === 'HANG') return; // the service is stuck: no point stacking more requests
    }
  };
  await Promise.all([...Array.from({ length: options.concurrency }, () => client()), options.during?.(elapsed)]);
  record.seconds = elapsed() / 1000;
  return record;
}

/** Counts of every answer that is not a success, e.g. "409 LICENSE_REFUSED x12, 503 STORE_UNAVAILABLE x3". */
export function errorCounts(answers: readonly { key: string }[]): string {
  const counts = new Map<string, number>();
  for (const { key } of answers) if (!NON_ERRORS.has(key)) counts.set(key, (counts.get(key) ?? 0) + 1);
  if (counts.size === 0) return 'none';
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key} x${n}`)
    .join(', ');
}

/** Answers the README does not document for a store in trouble (what must never be seen). */
export function undocumented(answers: readonly Answered[]): Answered[] {
  return answers.filter((a) => {
    if (a.key === '200' || a.key === '201') return false;
    if (a.op === 'acquire' && a.key === '409 LICENSE_REFUSED') return false;
    const [status, code] = a.key.split(' ');
    return !(status === '503' && code !== undefined && DOCUMENTED_5XX.has(code) && a.retryAfter !== null);
  });
}

// ---------------------------------------------------------------------------
// reading back

/**
 * A store on the hot keyspace read at `consistency` through a driver that talks to `points` only
 * (a whitelist: with one point, that node coordinates every read). No schema is applied.
 */
export async function readerStore(settings: CassandraSettings, points: readonly string[], consistency: CassandraSettings['readConsistency']): Promise<CassandraEventStore> {
  const client = new Client({
    contactPoints: [...points],
    localDataCenter: settings.localDataCenter,
    keyspace: settings.keyspace,
    policies: { loadBalancing: new policies.loadBalancing.WhiteListPolicy(new policies.loadBalancing.DCAwareRoundRobinPolicy(settings.localDataCenter), [...points]) },
    socketOptions: { connectTimeout: 5000, readTimeout: 12_000 },
    // The service's own rule (connect.ts): discovered hosts get the contact points' port.
    ...discoveredHostsPort(points),
  });
  await client.connect();
  return CassandraEventStore.over(client, { ...settings, contactPoints: [...points], readConsistency: consistency }, 'compact', { ownsClient: true });
}

/** A member's whole history in the store (every generation), in position order. */
export async function historyOf(store: EventStore, memberId: string): Promise<EventRecord[]> {
  const head = await store.readHead(memberId);
  const rows: EventRecord[] = [];
  for (let generation = 0; generation <= head.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) rows.push(row);
  }
  return rows.sort((a, b) => a.position - b.position);
}

/**
 * A stored history against the rules: positions 1..n with no gap or repeat, and at no point more
 * active licenses on a device, more devices, or more acquires of a title in the year (the clock
 * is manual: every acquire is in the same year) than the rules allow.
 */
export function limitProblems(memberId: string, rows: readonly EventRecord[]): string[] {
  const problems: string[] = [];
  rows.forEach((row, index) => {
    if (row.position !== index + 1) problems.push(`${memberId}: position ${row.position} where ${index + 1} was expected`);
  });
  const perDevice = RULES.maxActiveDownloadsPerDevice ?? Infinity;
  const perTitle = RULES.defaults.yearlyTitleLimit ?? Infinity;
  const devices = RULES.plans[RULES.defaults.plan]?.maxDownloadDevices ?? Infinity;
  const deviceOf = new Map<string, string>();
  const active = new Map<string, Set<string>>();
  const titles = new Map<string, number>();
  for (const row of rows) {
    const event = decodeEvent(row);
    if (event.type === 'LicenseAcquired') {
      deviceOf.set(event.licenseId, event.deviceId);
      const set = active.get(event.deviceId) ?? new Set<string>();
      set.add(event.licenseId);
      active.set(event.deviceId, set);
      titles.set(event.titleId, (titles.get(event.titleId) ?? 0) + 1);
      if (set.size > perDevice) problems.push(`${memberId}: device ${event.deviceId} holds ${set.size} licenses (limit ${perDevice}) at position ${row.position}`);
      if ((titles.get(event.titleId) ?? 0) > perTitle)
        problems.push(`${memberId}: title ${event.titleId} acquired ${titles.get(event.titleId)} times in the year (limit ${perTitle})`);
      if (active.size > devices) problems.push(`${memberId}: ${active.size} devices (limit ${devices}) at position ${row.position}`);
    } else if (event.type === 'LicenseReleased') {
      const device = deviceOf.get(event.licenseId);
      if (device) active.get(device)?.delete(event.licenseId);
    }
  }
  return problems;
}

export interface ReadBack {
  /** Acknowledged acquires with no LicenseAcquired event in the store. */
  missing: Acknowledged[];
  /** Limit and position problems, and licenses stored twice. */
  problems: string[];
  members: number;
}

/** Reads every member of `acknowledged` (and `alsoMembers`) through `store` and checks it. */
export async function readBack(store: EventStore, acknowledged: readonly Acknowledged[], alsoMembers: readonly string[] = []): Promise<ReadBack> {
  const byMember = new Map<string, Set<string>>();
  for (const m of alsoMembers) byMember.set(m, new Set());
  for (const { memberId, licenseId } of acknowledged) byMember.set(memberId, (byMember.get(memberId) ?? new Set()).add(licenseId));
  const missing: Acknowledged[] = [];
  const problems: string[] = [];
  for (const [memberId, licenseIds] of byMember) {
    const rows = await historyOf(store, memberId);
    problems.push(...limitProblems(memberId, rows));
    const stored = storedOnce(memberId, rows, licenseIds);
    missing.push(...stored.missing);
    problems.push(...stored.problems);
  }
  return { missing, problems, members: byMember.size };
}

/** The summary line the lead's README figures come from (preamble of issue 15). */
export function summaryLine(o: { scenario: string; load: string; fault: string; acknowledged: number; note?: string; lost: number; overLimit: number; errors: string }): string {
  return `fault-campaign | ${o.scenario} | load: ${o.load} | fault: ${o.fault} | acknowledged: ${o.acknowledged} events${o.note ? ` (${o.note})` : ''} | lost: ${o.lost} | over limit: ${o.overLimit} | errors seen: ${o.errors}`;
}

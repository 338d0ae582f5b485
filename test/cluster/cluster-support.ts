/**
 * Cluster tests: real node processes on loopback (cluster/launcher.ts) over the test Cassandra,
 * an edge-like load that retries 503s the way a client would, and checks of the stored history.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { launchCluster, type LaunchedCluster, type LaunchOptions } from '../../cluster/launcher.ts';
import type { ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { debugReaderOf } from '../../src/store/read-purpose.ts';
import type { EventRecord } from '../../src/store/event-store.ts';
import { cassandraTestSettings, TEST_KEYSPACE } from '../support/cassandra.ts';
import { testRules } from '../support/fixtures.ts';

export const RULES = testRules({ version: 'cluster-test-1' });
/** Titles with no studio: the limits that apply are per device (5 active) and per title (3 a year). */
export const TITLES = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'];
export const DEVICES = ['d1', 'd2'];
/** The only 5xx a client may see while members move, each retried. */
export const MOVE_CODES = new Set(['OWNERSHIP_MOVED', 'MISROUTED', 'OWNER_UNREACHABLE', 'NOT_READY', 'STORE_CONFLICT']);

export async function startTestCluster(nodes: number, cluster: Record<string, unknown> = {}): Promise<LaunchedCluster> {
  const contactPoints = process.env['CASSANDRA_CONTACT_POINTS'];
  const options: LaunchOptions = {
    nodes,
    clusterId: `test-${randomUUID().slice(0, 8)}`,
    rules: RULES,
    service: {
      cassandra: { keyspace: TEST_KEYSPACE },
      // One worker per node: four nodes and Cassandra share this machine's two cores.
      actors: { workers: 1 },
      snapshot: { eventCount: 15, replayMs: 1000 },
      // A generous failure timeout: on a busy two-core machine a live node can miss a few beats.
      cluster: { pollIntervalMs: 200, heartbeatIntervalMs: 200, failureTimeoutMs: 8000, moveConcurrency: 16, forwardTimeoutMs: 3000, ...cluster },
    },
    env: { LOG_LEVEL: 'warn', ...(contactPoints ? { CASSANDRA_CONTACT_POINTS: contactPoints } : {}) },
    startTimeoutMs: 90_000,
  };
  return launchCluster(options);
}

export interface Attempt {
  status: number;
  code: string | null;
  /** The node the edge sent it to. */
  target: string;
}

export interface Acknowledged {
  memberId: string;
  licenseId: string;
}

export interface LoadRecord {
  attempts: Attempt[];
  /** Requests that still had no non-5xx answer after all their retries. */
  unanswered: { op: string; memberId: string; last: Attempt }[];
  acquired: Acknowledged[];
  released: Acknowledged[];
  answered: number;
}

const agent = new Agent({ connections: 16, keepAliveTimeout: 5000 });

export async function call(
  url: string,
  method: 'GET' | 'POST',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; servedBy: string | null }> {
  const response = await request(url, {
    method,
    dispatcher: agent,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  });
  const text = await response.body.text();
  const servedBy = response.headers['x-served-by'];
  return { status: response.statusCode, body: text ? JSON.parse(text) : null, servedBy: typeof servedBy === 'string' ? servedBy : null };
}

/**
 * A steady mixed load from an edge that spreads requests over the nodes `targets()` names and
 * retries a 503 (same requestId, so a retried command is never applied twice) within a bound.
 */
export function startEdgeLoad(options: { targets: () => string[]; members: string[]; concurrency: number; maxRetryMs?: number }): { stop(): Promise<LoadRecord> } {
  const record: LoadRecord = { attempts: [], unanswered: [], acquired: [], released: [], answered: 0 };
  let running = true;
  const maxRetryMs = options.maxRetryMs ?? 15_000;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)] as T;
  const owned = new Map<string, string[]>();

  const attempt = async (op: string, memberId: string, path: string, method: 'GET' | 'POST', body?: unknown) => {
    const started = Date.now();
    let last: Attempt = { status: 0, code: null, target: '' };
    for (let round = 0; Date.now() - started < maxRetryMs; round++) {
      const target = pick(options.targets());
      try {
        const answer = await call(`${target}${path}`, method, body);
        last = { status: answer.status, code: (answer.body as { code?: string } | null)?.code ?? null, target };
        record.attempts.push(last);
        if (answer.status < 500) {
          record.answered += 1;
          return answer;
        }
      } catch (error) {
        // A node that was just stopped: the edge's balancer would take it out; try another.
        last = { status: 0, code: (error as { code?: string }).code ?? 'CONNECTION', target };
        record.attempts.push(last);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * (round + 1), 300)));
    }
    record.unanswered.push({ op, memberId, last });
    return null;
  };

  const worker = async (): Promise<void> => {
    while (running) {
      const memberId = pick(options.members);
      const roll = Math.random();
      const licenses = owned.get(memberId) ?? [];
      if (roll < 0.45) {
        await attempt('check', memberId, `/v1/members/${memberId}/check?deviceId=${pick(DEVICES)}&titleId=${pick(TITLES)}`, 'GET');
      } else if (roll < 0.85 || licenses.length === 0) {
        const answer = await attempt('acquire', memberId, `/v1/members/${memberId}/licenses`, 'POST', { deviceId: pick(DEVICES), titleId: pick(TITLES), requestId: randomUUID() });
        if (answer?.status === 201) {
          const licenseId = (answer.body as { licenseId: string }).licenseId;
          record.acquired.push({ memberId, licenseId });
          owned.set(memberId, [...licenses, licenseId]);
        }
      } else {
        const licenseId = licenses[Math.floor(Math.random() * licenses.length)] as string;
        const answer = await attempt('release', memberId, `/v1/members/${memberId}/licenses/${licenseId}/release`, 'POST', { requestId: randomUUID() });
        if (answer?.status === 200) {
          record.released.push({ memberId, licenseId });
          owned.set(
            memberId,
            licenses.filter((id) => id !== licenseId),
          );
        }
      }
    }
  };
  const workers = Array.from({ length: options.concurrency }, () => worker());
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return record;
    },
  };
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** True once every live node follows the newest epoch and has finished handing off for it. */
export async function movesSettled(cluster: LaunchedCluster): Promise<boolean> {
  const { status, body } = await cluster.admin('GET', '/v1/admin/cluster');
  if (status !== 200) return false;
  const view = body as ClusterDescription;
  const live = view.nodes.filter((node) => node.state !== 'removed' && node.reachable);
  return live.every((node) => node.epoch === view.epoch && (node.moves === null || node.moves.epoch < view.epoch || node.moves.finishedAt !== null));
}

/** A member's whole history from the store (every generation), in position order. */
export async function historyOf(tiered: TieredEventStore, memberId: string): Promise<EventRecord[]> {
  // Read by purpose: the nodes' archivers move sealed generations from hot to cold.
  const store = debugReaderOf(tiered);
  const head = await store.readHead(memberId);
  const rows: EventRecord[] = [];
  for (let generation = 0; generation <= head.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) rows.push(row);
  }
  return rows.sort((a, b) => a.position - b.position);
}

export function openStore(): Promise<TieredEventStore> {
  return TieredEventStore.connect(cassandraTestSettings());
}

/**
 * Checks one member's stored history: positions 1..n with no gap or repeat, and at no point
 * more unreleased licenses on a device than the rules allow. Returns the problems found.
 */
export function historyProblems(memberId: string, rows: EventRecord[]): string[] {
  const problems: string[] = [];
  rows.forEach((row, index) => {
    if (row.position !== index + 1) problems.push(`${memberId}: position ${row.position} where ${index + 1} was expected`);
  });
  const deviceOf = new Map<string, string>();
  const active = new Map<string, Set<string>>();
  for (const row of rows) {
    const event = decodeEvent(row);
    if (event.type === 'LicenseAcquired') {
      deviceOf.set(event.licenseId, event.deviceId);
      const set = active.get(event.deviceId) ?? new Set<string>();
      set.add(event.licenseId);
      active.set(event.deviceId, set);
      const limit = RULES.maxActiveDownloadsPerDevice ?? Infinity;
      if (set.size > limit) problems.push(`${memberId}: device ${event.deviceId} holds ${set.size} licenses (limit ${limit}) at position ${row.position}`);
    } else if (event.type === 'LicenseReleased') {
      const device = deviceOf.get(event.licenseId);
      if (device) active.get(device)?.delete(event.licenseId);
    } else if (event.type === 'DeviceDeactivated') {
      for (const id of event.releasedLicenseIds) {
        const device = deviceOf.get(id);
        if (device) active.get(device)?.delete(id);
      }
    }
  }
  return problems;
}

/** Every acknowledged acquire has exactly one LicenseAcquired event in its member's history. */
export async function missingAcknowledged(store: TieredEventStore, acquired: Acknowledged[]): Promise<{ missing: Acknowledged[]; problems: string[] }> {
  const byMember = new Map<string, Set<string>>();
  for (const { memberId, licenseId } of acquired) byMember.set(memberId, (byMember.get(memberId) ?? new Set()).add(licenseId));
  const missing: Acknowledged[] = [];
  const problems: string[] = [];
  for (const [memberId, licenseIds] of byMember) {
    const rows = await historyOf(store, memberId);
    problems.push(...historyProblems(memberId, rows));
    const stored = storedOnce(memberId, rows, licenseIds);
    missing.push(...stored.missing);
    problems.push(...stored.problems);
  }
  return { missing, problems };
}

/** Of a member's acknowledged licenses: those with no LicenseAcquired event, and those with several. */
export function storedOnce(memberId: string, rows: readonly EventRecord[], licenseIds: Iterable<string>): { missing: Acknowledged[]; problems: string[] } {
  const stored = new Map<string, number>();
  for (const row of rows) {
    const event = decodeEvent(row);
    if (event.type === 'LicenseAcquired') stored.set(event.licenseId, (stored.get(event.licenseId) ?? 0) + 1);
  }
  const missing: Acknowledged[] = [];
  const problems: string[] = [];
  for (const licenseId of licenseIds) {
    const count = stored.get(licenseId) ?? 0;
    if (count === 0) missing.push({ memberId, licenseId });
    if (count > 1) problems.push(`${memberId}: license ${licenseId} acquired ${count} times`);
  }
  return { missing, problems };
}

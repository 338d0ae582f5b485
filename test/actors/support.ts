/**
 * Helpers for the actor-runtime tests: a server whose service runs on worker threads, on a
 * temp-file SQLite or on the test Cassandra, with a main-thread store on the same data so a
 * test can read what the workers stored. Not a test file by itself.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ActorPool } from '../../src/actors/actor-pool.ts';
import type { WorkerStats } from '../../src/actors/protocol.ts';
import type { ServiceConfig } from '../../src/config/types.ts';
import type { Rules } from '../../src/domain/rules.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import type { EventStore } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { startTestServer, type TestServer } from '../support/fixtures.ts';

export type StoreKind = 'sqlite' | 'cassandra';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'cassandra'];

export type ActorsConfig = ServiceConfig['actors'];

export const DEFAULT_ACTORS: ActorsConfig = { workers: 2, maxQueuedPerMember: 64, maxPendingPerWorker: 10_000, groupCommit: true };

export interface ActorServerOptions {
  rules?: Rules;
  actors?: Partial<ActorsConfig>;
  cache?: Partial<ServiceConfig['cache']>;
  snapshot?: Partial<ServiceConfig['snapshot']>;
}

export interface ActorServer extends TestServer {
  pool: ActorPool;
}

/**
 * A server on worker threads (2 by default) over the given store, closed when the test ends.
 * Each worker opens its own connection from config; `server.store` is a main-thread connection
 * to the same data, for reading what was stored.
 */
export async function startActorServer(t: Test, kind: StoreKind, options: ActorServerOptions = {}): Promise<ActorServer> {
  const actors: ActorsConfig = { ...DEFAULT_ACTORS, ...options.actors };
  const service: Partial<ServiceConfig> = { actors };
  if (options.cache) service.cache = { maxMembers: 100_000, maxBytes: 268_435_456, ...options.cache };
  if (options.snapshot) service.snapshot = { eventCount: 200, replayMs: 50, ...options.snapshot };
  let store: EventStore;
  let cleanup = async (): Promise<void> => {};
  if (kind === 'sqlite') {
    // Workers cannot share an in-memory database: a temp file, opened by each worker and here.
    const dir = await mkdtemp(join(tmpdir(), 'actors-test-'));
    const path = join(dir, 'events.db');
    service.sqlite = { path };
    store = new SqliteEventStore(path);
    cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    const settings = cassandraTestSettings();
    service.store = 'cassandra';
    service.cassandra = settings;
    // The two tiers, as the workers open them: archived generations leave hot, and this store
    // reads them back from cold (storedEvents reads every generation).
    store = await TieredEventStore.connect(settings);
  }
  let server: TestServer;
  try {
    server = await startTestServer({ ...(options.rules ? { rules: options.rules } : {}), service, store });
  } catch (error) {
    await store.close().catch(() => {});
    await cleanup();
    throw error;
  }
  t.teardown(async () => {
    await server.close();
    await cleanup();
  });
  if (!server.pool) throw new Error('the server did not start an actor pool');
  return server as ActorServer;
}

/** Member ids unique to this run: the Cassandra keyspace outlives test runs. */
export function memberIds(prefix: string, count: number): string[] {
  const run = randomUUID().slice(0, 8);
  return Array.from({ length: count }, (_, i) => `${prefix}-${run}-${i}`);
}

export type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  body: Json;
  headers: Record<string, unknown>;
}

export async function send(s: TestServer, method: 'GET' | 'POST', url: string, payload?: Json): Promise<Answer> {
  const res = await s.app.inject(payload === undefined ? { method, url } : { method, url, payload });
  const parsed: unknown = res.body.length > 0 ? JSON.parse(res.body) : {};
  return { status: res.statusCode, body: typeof parsed === 'object' && parsed !== null ? (parsed as Json) : { value: parsed }, headers: res.headers };
}

export function acquire(s: TestServer, memberId: string, body: Json): Promise<Answer> {
  return send(s, 'POST', `/v1/members/${memberId}/licenses`, body);
}

export function check(s: TestServer, memberId: string, deviceId: string, titleId: string): Promise<Answer> {
  return send(s, 'GET', `/v1/members/${memberId}/check?deviceId=${deviceId}&titleId=${titleId}`);
}

export async function listedLicenseIds(s: TestServer, memberId: string): Promise<string[]> {
  const res = await send(s, 'GET', `/v1/members/${memberId}/licenses`);
  if (res.status !== 200) throw new Error(`GET licenses of ${memberId} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return (res.body['licenses'] as { licenseId: string }[]).map((l) => l.licenseId);
}

/** Every stored event of a member, all generations (0 up to the head's), decoded. */
export async function storedEvents(store: EventStore, memberId: string): Promise<DomainEvent[]> {
  const head = await store.readHead(memberId);
  const events: DomainEvent[] = [];
  for (let generation = 0; generation <= head.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) events.push(decodeEvent(row));
  }
  return events;
}

/** The license ids of a member's stored LicenseAcquired events. */
export async function storedAcquiredIds(store: EventStore, memberId: string): Promise<string[]> {
  const ids: string[] = [];
  for (const event of await storedEvents(store, memberId)) if (event.type === 'LicenseAcquired') ids.push(event.licenseId);
  return ids;
}

export function statsOf(stats: readonly WorkerStats[], workerId: string): WorkerStats {
  const found = stats.find((s) => s.workerId === workerId);
  if (!found) throw new Error(`no stats for ${workerId}`);
  return found;
}

/** Rejects when the promise has not settled within ms: a hung request fails the test instead of stalling it. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

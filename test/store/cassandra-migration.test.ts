/**
 * The migration from the previous row layout to the compact one, on a keyspace written by the
 * previous release's code (the legacy store, driven by the real service over HTTP and by direct
 * appends for the rows the service no longer writes): the service refuses the keyspace until
 * it is migrated; an interrupted migration leaves it refused and resumes; the real CLI
 * completes it; every member's rows, heads, owners and snapshots come back identical (and
 * `replay --check --against-legacy` says so); a second run writes nothing; no old row is
 * touched; upcasting still works on the copied rows; and the service writes on, fenced.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import cassandra from 'cassandra-driver';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import { encodeVoid } from '../../src/store/codec/void-codec.ts';
import { kindCodeOf } from '../../src/store/codec/compact-payload.ts';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import { readCompactHeader } from '../../src/store/cassandra/compact-row.ts';
import { LayoutMigration } from '../../src/store/cassandra/layout-migration.ts';
import { connectLegacyStore } from '../../src/store/cassandra/legacy/legacy-store.ts';
import { EMPTY_HEAD, type EventRecord, type EventStore, type NewEventRecord, type SnapshotRecord, type StreamHead } from '../../src/store/event-store.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import { acquireOk, call, deactivate, playback, post, release, renew } from '../http/http-support.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { DAY, startTestServer, T0, testRules } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/process.ts';

const suffix = randomUUID().replaceAll('-', '').slice(0, 10);
const settings = cassandraTestSettings({ keyspace: `migration_${suffix}` });
const raw = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
const dir = mkdtempSync(join(tmpdir(), 'license-migrate-'));
const dropped: string[] = [];
t.before(() => raw.connect());
t.teardown(async () => {
  for (const keyspace of dropped) await raw.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  await raw.shutdown();
  rmSync(dir, { recursive: true, force: true });
});
dropped.push(settings.keyspace);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(keyspace: string, ...args: string[]): Promise<Run> {
  const configPath = join(dir, `${keyspace}.json`);
  writeFileSync(configPath, JSON.stringify({ service: { store: 'cassandra', cassandra: { keyspace, contactPoints: settings.contactPoints } }, rules: testRules() }));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/license-accounting.mjs', '--config', configPath, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, LICENSE_CONFIG: '', CASSANDRA_CONTACT_POINTS: settings.contactPoints.join(',') } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function collect(store: EventStore, memberId: string, lastGeneration: number): Promise<EventRecord[]> {
  const rows: EventRecord[] = [];
  for (let generation = 0; generation <= lastGeneration; generation++) for await (const row of store.readGeneration(memberId, generation)) rows.push(row);
  return rows.sort((a, b) => a.generation - b.generation || a.position - b.position);
}

interface Member {
  head: StreamHead;
  rows: EventRecord[];
  snapshot: SnapshotRecord | null;
}

async function everything(store: EventStore): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  for await (const memberId of store.listMembers()) {
    const head = await store.readHead(memberId);
    members.set(memberId, { head, rows: await collect(store, memberId, head.generation), snapshot: await store.readLatestSnapshot(memberId) });
  }
  return members;
}

/** Every row of a table with the write times of its cells: what "changes nothing" is checked against. */
async function tableState(keyspace: string, table: 'events' | 'events_v2'): Promise<string[]> {
  const [cells, statics] = table === 'events' ? ['aggregate_name, aggregate_id, at, position, payload, correlation_id', 'payload'] : ['position, at, data', 'at'];
  const query = `SELECT member_id, generation, ${cells}, head_position, WRITETIME(${statics}) AS written, WRITETIME(head_position) AS head_written FROM ${keyspace}.${table}`;
  const rows: string[] = [];
  let pageState: string | undefined;
  do {
    const page = await raw.execute(query, [], { fetchSize: 1000, ...(pageState ? { pageState } : {}) });
    for (const r of page.rows) rows.push(JSON.stringify(r));
    pageState = page.pageState ?? undefined;
  } while (pageState);
  return rows.sort();
}

const row = (o: Partial<NewEventRecord> & Pick<NewEventRecord, 'aggregateName' | 'aggregateId' | 'type' | 'payload'>): NewEventRecord => ({
  at: T0,
  schemaVersion: 1,
  serializer: 'json',
  rulesVersion: 'test-1',
  requestId: null,
  ...o,
});

const FENCE = { epoch: 4, node: 'node-a' };
let before: Map<string, Member>;

t.test('a keyspace written by the previous release', async (t) => {
  const legacy = await connectLegacyStore(settings);
  // The real service on the previous layout, snapshotting every 4 events: several generations.
  const s = await startTestServer({ store: legacy, service: { snapshot: { eventCount: 4, replayMs: 1_000_000_000 } } });
  for (let i = 0; i < 6; i++) {
    const member = `member-${i}`;
    const edge = i % 2 === 0 ? { 'x-request-id': `edge-${i}` } : {};
    const first = await acquireOk(t, s, member, 'phone', 'open-a', { requestId: `req-${i}-1` });
    await post(s, '/v1/admin/clock', { advanceMs: DAY });
    t.equal((await renew(s, member, first, { requestId: `req-${i}-2` })).status, 200);
    t.equal((await playback(s, member, first, { events: [{ sessionId: `s-${i}`, startedAt: new Date(T0).toISOString(), durationMs: 60_000 }] })).status, 202);
    const second = await acquireOk(t, s, member, 'tablet', 'strict-a');
    t.equal((await call(s, { method: 'POST', url: `/v1/members/${member}/licenses/${first}/release`, headers: edge })).status, 200);
    t.equal((await deactivate(s, member, 'tablet')).status, 200);
    if (i % 3 === 0) t.equal((await release(s, member, second)).status, 200, 'released twice: idempotent, writes nothing');
  }
  await s.close();

  // Rows the service does not write any more, through the previous release's store itself.
  const store = await connectLegacyStore(settings);
  const licenseId = randomUUID();
  await store.append('upcast', EMPTY_HEAD, [
    row({
      aggregateName: 'license',
      aggregateId: licenseId,
      type: 'LicenseAcquired',
      payload: JSON.stringify({ licenseId, deviceId: 'phone', titleId: 'open-a', studioId: 'open', expiresAt: T0 + 30 * DAY }),
    }),
    row({ aggregateName: 'license', aggregateId: licenseId, type: 'LicenseReleased', at: T0 + DAY, payload: JSON.stringify({ licenseId }), correlationId: randomUUID() }),
  ]);
  let head = await store.append('voided', EMPTY_HEAD, [
    row({ aggregateName: 'license', aggregateId: 'L1', type: 'LicenseTeleported', payload: '{"licenseId":"L1"}', requestId: 'r-1' }),
  ]);
  const [bad] = await collect(store, 'voided', 0);
  if (!bad) throw new Error('the bad row was not written');
  await store.append('voided', head, [encodeVoid(bad, { at: T0 + 1, reason: 'written by a fork', rulesVersion: 'test-1', correlationId: 'ops-1' })]);
  await store.claim('fenced', FENCE);
  await store.append('fenced', EMPTY_HEAD, [row({ aggregateName: 'device', aggregateId: 'd', type: 'DeviceRegistered', payload: '{"deviceId":"d"}' })], FENCE);
  // A snapshot of the real state, written by the repository as the service does, fenced.
  const repository = new MemberRepository(store, { eventCount: 1000, replayMs: 1e9 });
  const fenced = await repository.load('fenced', FENCE);
  t.ok(await repository.snapshot(fenced, { rethrow: true }));
  await repository.append(fenced, [{ type: 'DeviceDeactivated', at: T0 + 5, deviceId: 'd', releasedLicenseIds: [] }], { rulesVersion: 'test-1', correlationId: randomUUID() });
  // A crash between a snapshot's seal and its row: the next generation was never opened.
  head = await store.append('crashed', EMPTY_HEAD, [row({ aggregateName: 'device', aggregateId: 'd', type: 'DeviceRegistered', payload: '{"deviceId":"d"}' })]);
  await store.writeSnapshot('crashed', head, { takenAt: T0, schemaVersion: 1, payload: '{}' });
  await raw.execute(`DELETE FROM ${settings.keyspace}.snapshots WHERE member_id = ? AND generation = ?`, ['crashed', 1], { prepare: true });
  await raw.execute(`DELETE FROM ${settings.keyspace}.events WHERE member_id = ? AND generation = ?`, ['crashed', 1], { prepare: true });
  before = await everything(store);
  await store.close();

  t.equal(before.size, 10);
  t.ok(
    [...before.values()].some((m) => m.head.generation >= 2),
    'several generations',
  );
  const correlations = [...before.values()].flatMap((m) => m.rows.map((r) => r.correlationId));
  t.ok(correlations.some((c) => c?.startsWith('edge-')) && correlations.some((c) => typeof c === 'string' && /^[0-9a-f-]{36}$/.test(c)), 'text and UUID correlation ids');
  t.same(before.get('crashed')?.head, { generation: 1, position: 1 }, 'the crashed member goes on from its sealed position');
});

t.test('the service refuses the keyspace until it is migrated, saying what to run', async (t) => {
  await t.rejects(CassandraEventStore.connect(settings), { name: 'MigrationRequiredError', message: /never migrated.*license-accounting --config <your config> migrate/ });
});

t.test('an interrupted migration leaves the keyspace refused; a member changed since its copy is copied again', async (t) => {
  const migration = await LayoutMigration.connect(settings);
  const outcomes: string[] = [];
  const report = await migration.run({ stopAfter: 4, concurrency: 1, onMember: (_, outcome) => outcomes.push(`${outcome.memberId}:${outcome.outcome}`) });
  await migration.close();
  t.equal(report.state, 'incomplete');
  t.equal(outcomes.length, 4);
  t.ok(
    outcomes.every((o) => o.endsWith(':copied')),
    outcomes.join(' '),
  );
  await t.rejects(CassandraEventStore.connect(settings), { name: 'MigrationRequiredError', message: /started .* but is not complete.*run it again after an interruption/ });

  // An old service still running writes to a member already copied: the rerun sees its head moved.
  const changed = (outcomes[0] ?? '').split(':')[0] ?? '';
  const legacy = await connectLegacyStore(settings);
  const head = await legacy.readHead(changed);
  await legacy.append(changed, head, [row({ aggregateName: 'device', aggregateId: 'late', type: 'DeviceRegistered', at: T0 + 10 * DAY, payload: '{"deviceId":"late"}' })]);
  before = await everything(legacy);
  await legacy.close();
});

let compactRowsAfterFirstRun: string[] = [];
let legacyRows: string[] = [];

t.test('the CLI completes the migration; every member is identical in the compact layout', async (t) => {
  legacyRows = await tableState(settings.keyspace, 'events');
  const run = await cli(settings.keyspace, 'migrate');
  t.equal(run.code, 0, run.stderr + run.stdout);
  const report = JSON.parse(run.stdout.split('\n')[0] as string) as Record<string, unknown>;
  t.match(report, { state: 'complete', members: 10, unchanged: 3, copied: 7, problems: [] }, 'the three untouched members are skipped, the changed one is copied again');

  const store = await CassandraEventStore.connect(settings);
  const after = await everything(store);
  t.same([...after.keys()].sort(), [...before.keys()].sort(), 'every member');
  for (const [memberId, old] of before) t.same(after.get(memberId), old, `${memberId}: rows, head and snapshot`);

  // Upcasting on the copied rows: the version-1 release is stored as such and reads as a member's release.
  const released = after.get('upcast')?.rows[1] as EventRecord;
  t.equal(released.schemaVersion, 1);
  t.match(decodeEvent(released), { type: 'LicenseReleased', cause: 'member' });
  const stored = (
    await raw.execute(`SELECT data FROM ${settings.keyspace}.events_v2 WHERE member_id = ? AND generation = 0 AND position = 2`, ['upcast'], { prepare: true })
  ).first();
  t.equal(readCompactHeader(stored?.['data'] as Buffer).kind, kindCodeOf('LicenseReleased', 1), 'stored as a version-1 release');
  const loaded = await new MemberRepository(store, { eventCount: 1000, replayMs: 1e9 }).load('upcast');
  t.equal(loaded.head.position, 2, 'the service loads it');
  await store.close();

  const check = await cli(settings.keyspace, 'replay', '--check', '--against-legacy');
  t.equal(check.code, 0, check.stdout + check.stderr);
  t.match(check.stdout, /0 mismatch\(es\), 0 error\(s\)/);
  t.match(check.stdout, /compared 10 member\(s\) with the previous layout: 10 identical, 0 different, 0 error\(s\)/);
  compactRowsAfterFirstRun = await tableState(settings.keyspace, 'events_v2');
  t.same(await tableState(settings.keyspace, 'events'), legacyRows, 'no old row was changed or removed');
});

t.test('running it again writes nothing', async (t) => {
  const run = await cli(settings.keyspace, 'migrate');
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /already migrated \(10 member\(s\)\); nothing written/);
  t.same(await tableState(settings.keyspace, 'events_v2'), compactRowsAfterFirstRun, 'same rows, same write times');
});

// The driver checks `instanceof RequestTracker` at run time, while its typings declare an interface.
const RequestTrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => cassandra.tracker.RequestTracker }).RequestTracker;
class Requests extends RequestTrackerBase {
  sent: string[] = [];
  override onSuccess(_host: unknown, query: unknown): void {
    this.sent.push(Array.isArray(query) ? 'batch' : String(query));
  }
}

t.test('after the migration the service writes on, fenced, one request per append as before', async (t) => {
  const requests = new Requests();
  const store = await CassandraEventStore.connect(settings, { requestTracker: requests });
  const head = await store.readHead('fenced');
  await t.rejects(
    store.append('fenced', head, [row({ aggregateName: 'device', aggregateId: 'e', type: 'DeviceRegistered', payload: '{"deviceId":"e"}' })], { epoch: 4, node: 'node-b' }),
    {
      code: 'OWNERSHIP_MOVED',
    },
  );
  requests.sent = [];
  t.same(await store.append('fenced', head, [row({ aggregateName: 'device', aggregateId: 'e', type: 'DeviceRegistered', payload: '{"deviceId":"e"}' })], FENCE), {
    generation: head.generation,
    position: head.position + 1,
  });
  t.same(requests.sent, ['batch'], 'one conditional batch (the rules version id is known)');
  t.same(
    await store.append('crashed', { generation: 1, position: 1 }, [
      row({ aggregateName: 'device', aggregateId: 'd', type: 'DeviceDeactivated', at: T0 + 5, payload: '{"deviceId":"d","releasedLicenseIds":[]}' }),
    ]),
    {
      generation: 1,
      position: 2,
    },
    'the crashed member opens its next generation at the sealed position',
  );
  const s = await startTestServer({ store });
  await post(s, '/v1/admin/clock', { advanceMs: 20 * DAY });
  await acquireOk(t, s, 'member-0', 'phone', 'open-a');
  await s.close();
});

t.test('a fresh keyspace starts in the compact layout; an empty previous layout starts too', async (t) => {
  const fresh = cassandraTestSettings({ keyspace: `fresh_${suffix}` });
  dropped.push(fresh.keyspace);
  const store = await CassandraEventStore.connect(fresh);
  t.same(await store.append('m', EMPTY_HEAD, [row({ aggregateName: 'device', aggregateId: 'd', type: 'DeviceRegistered', payload: '{"deviceId":"d"}' })]), {
    generation: 0,
    position: 1,
  });
  await store.close();
  const tables = await raw.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [fresh.keyspace], { prepare: true });
  const names = tables.rows.map((r) => r['table_name'] as string);
  t.ok(names.includes('events_v2') && !names.includes('events'), 'no previous-layout table');

  const empty = cassandraTestSettings({ keyspace: `empty_${suffix}` });
  dropped.push(empty.keyspace);
  await (await connectLegacyStore(empty)).close();
  await (await CassandraEventStore.connect(empty)).close();
  t.pass('a previous layout without events needs no migration');
});

t.test('a member that already has compact rows the migration did not write is left alone and reported', async (t) => {
  const mixed = cassandraTestSettings({ keyspace: `mixed_${suffix}` });
  dropped.push(mixed.keyspace);
  const legacy = await connectLegacyStore(mixed);
  await legacy.append('both', EMPTY_HEAD, [row({ aggregateName: 'device', aggregateId: 'old', type: 'DeviceRegistered', payload: '{"deviceId":"old"}' })]);
  await legacy.append('only-old', EMPTY_HEAD, [row({ aggregateName: 'device', aggregateId: 'old', type: 'DeviceRegistered', payload: '{"deviceId":"old"}' })]);
  await legacy.close();
  const client = new cassandra.Client({ contactPoints: mixed.contactPoints, localDataCenter: mixed.localDataCenter, keyspace: mixed.keyspace });
  await client.connect();
  const migration = await LayoutMigration.connect(mixed); // creates the compact tables
  await CassandraEventStore.over(client, mixed, 'compact').append('both', EMPTY_HEAD, [
    row({ aggregateName: 'device', aggregateId: 'new', type: 'DeviceRegistered', payload: '{"deviceId":"new"}' }),
  ]);
  const report = await migration.run();
  await migration.close();
  t.equal(report.state, 'incomplete');
  t.match(report.problems, [{ memberId: 'both', message: /already has events in the compact layout/ }]);
  const rows = await collect(CassandraEventStore.over(client, mixed, 'compact'), 'both', 0);
  t.same(
    rows.map((r) => r.aggregateId),
    ['new'],
    'its compact rows are as they were',
  );
  await client.shutdown();
  await t.rejects(CassandraEventStore.connect(mixed), { name: 'MigrationRequiredError' });
});

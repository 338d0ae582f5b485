/**
 * The two-tier Cassandra store (docs/storage.md#two-tiers) on the shared test node, its tiers as
 * two keyspaces: the store contract as the service sees it, then the archiver (copy, check, one
 * partition delete per generation), its crash points, the debug view's whole history and the
 * cold reader a load falls back to.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cassandra from 'cassandra-driver';
import type { EventRecord, EventStore, NewEventRecord, StreamHead } from '../../src/store/event-store.ts';
import { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { tierSettings } from '../../src/store/cassandra/tiers/tier-settings.ts';
import type { ArchiveStep } from '../../src/store/cassandra/tiers/archiver.ts';
import { coldReaderOf, debugReaderOf } from '../../src/store/read-purpose.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { startTestServer, TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/process.ts';
import { eventStoreContract } from './contract.ts';

const settings = cassandraTestSettings({ keyspace: 'license_tiers_test_v2' });

t.test('the store contract, through the tiered store', async (t) => {
  eventStoreContract(t, {
    open: () => TieredEventStore.connect(settings),
    async reopen(store) {
      await store.close();
      return TieredEventStore.connect(settings);
    },
  });
});

function event(at: number, n: number): NewEventRecord {
  return {
    aggregateName: 'Member',
    aggregateId: 'm',
    at,
    type: 'TestEvent',
    schemaVersion: 1,
    serializer: 'json',
    payload: JSON.stringify({ n }),
    rulesVersion: 'tiers-1',
    requestId: null,
    correlationId: randomUUID(),
  };
}

async function collect(iterable: AsyncIterable<EventRecord>): Promise<EventRecord[]> {
  const rows: EventRecord[] = [];
  for await (const row of iterable) rows.push(row);
  return rows;
}

/** `generations` generations of `perGeneration` events each, a snapshot sealing each but the last. */
async function history(store: EventStore, memberId: string, generations: number, perGeneration: number): Promise<StreamHead> {
  let head: StreamHead = { generation: 0, position: 0 };
  for (let g = 0; g < generations; g++) {
    for (let i = 0; i < perGeneration; i++) head = await store.append(memberId, head, [event(1_700_000_000_000 + head.position, head.position + 1)]);
    if (g < generations - 1) head = await store.writeSnapshot(memberId, head, { takenAt: 1_700_000_000_000 + head.position, schemaVersion: 2, payload: `{"at":${head.position}}` });
  }
  return head;
}

async function partitions(client: cassandra.Client, keyspace: string, memberId: string, upTo: number): Promise<number[]> {
  const present: number[] = [];
  for (let g = 0; g <= upTo; g++) {
    const rows = await client.execute(`SELECT member_id FROM ${keyspace}.events_v2 WHERE member_id = ? AND generation = ? LIMIT 1`, [memberId, g], { prepare: true });
    if (rows.rowLength > 0) present.push(g);
  }
  return present;
}

t.test('archiving, crashes and reads by purpose', async (t) => {
  let crashAt: ArchiveStep | null = null;
  const store = await TieredEventStore.connect(settings, {
    hooks: {
      between(step) {
        if (step === crashAt) throw new Error(`test crash after ${step}`);
      },
    },
  });
  const hot = tierSettings(settings, 'hot');
  const cold = tierSettings(settings, 'cold');
  t.equal(cold.keyspace, 'license_tiers_test_v2_cold', "cold's keyspace defaults to hot's + _cold");
  const client = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
  await client.connect();
  t.teardown(async () => {
    await client.shutdown();
    await store.close();
  });

  const memberId = `tiers-${randomUUID()}`;
  // Snapshots in the background run the archiver; crash them all for now.
  crashAt = 'copied';
  const head = await history(store, memberId, 5, 3); // generations 0..4, 15 events
  t.same(head, { generation: 4, position: 15 });
  await store.archive(memberId).then(
    () => t.fail('the crash hook should stop the archiver'),
    () => t.pass('crash between copy and its record'),
  );
  t.same(await partitions(client, hot.keyspace, memberId, 4), [0, 1, 2, 3, 4], 'nothing dropped before the copy is recorded');
  t.same(await store.archiveProgress(memberId), { archivedBelow: 0, droppedBelow: 0 });

  crashAt = 'dropped';
  await store.archive(memberId).catch(() => {});
  t.same(await partitions(client, hot.keyspace, memberId, 4), [1, 2, 3, 4], 'generation 0 dropped, then a crash before its record');
  t.same(await store.archiveProgress(memberId), { archivedBelow: 4, droppedBelow: 0 });

  crashAt = null;
  await store.archive(memberId);
  t.same(await store.archiveProgress(memberId), { archivedBelow: 4, droppedBelow: 3 }, 'resumed: every sealed generation archived, all but the last dropped');
  t.same(await partitions(client, hot.keyspace, memberId, 4), [3, 4], 'hot keeps the generation the latest snapshot sealed and the open one');
  t.same(await partitions(client, cold.keyspace, memberId, 4), [0, 1, 2, 3, 4], 'cold holds every generation (the open one by the background copy)');
  const hotSnapshots = await client.execute(`SELECT generation FROM ${hot.keyspace}.snapshots_v2 WHERE member_id = ?`, [memberId], { prepare: true });
  t.same(
    hotSnapshots.rows.map((row) => row['generation'] as number),
    [4, 3],
    'hot keeps the latest snapshot and the one before',
  );
  const coldSnapshots = await client.execute(`SELECT generation FROM ${cold.keyspace}.snapshots_v2 WHERE member_id = ?`, [memberId], { prepare: true });
  t.same(
    coldSnapshots.rows.map((row) => row['generation'] as number),
    [4, 3, 2, 1],
    'cold holds every snapshot',
  );

  // Real-time reads: the member loads from hot as before.
  t.same(await store.readHead(memberId), { generation: 4, position: 15 });
  t.equal((await store.readLatestSnapshot(memberId))?.generation, 4);

  // Debug reads: the whole history in order, no duplicates.
  const debug = debugReaderOf(store);
  const all: number[] = [];
  const dh = await debug.readHead(memberId);
  for (let g = 0; g <= dh.generation; g++) for (const row of await collect(debug.readGeneration(memberId, g))) all.push(row.position);
  t.same(
    all,
    Array.from({ length: 15 }, (_, i) => i + 1),
    'the debug view reads every event once, in order',
  );
  // A dropped generation read through the real-time store comes from cold (a rebuild from scratch).
  t.same(
    (await collect(store.readGeneration(memberId, 0))).map((row) => row.position),
    [1, 2, 3],
  );

  let listed = 0;
  for await (const id of store.listMembers()) if (id === memberId) listed += 1;
  t.equal(listed, 1, 'a member whose generation 0 left hot is still listed once');

  // The cold reader a load falls back to: cold's latest snapshot and what follows it.
  const coldReader = coldReaderOf(store);
  t.ok(coldReader);
  if (coldReader) {
    const snapshot = await coldReader.readLatestSnapshot(memberId);
    t.equal(snapshot?.generation, 4);
    t.same(await coldReader.readHead(memberId, snapshot), { generation: 4, position: 15 }, 'cold has the open generation too (background copy)');
    await t.rejects(coldReader.append(memberId, { generation: 4, position: 15 }, [event(1, 1)]), { code: 'STORE_UNAVAILABLE' }, 'the cold reader never writes');
  }

  // The sweeper finds members with work left.
  const other = `tiers-${randomUUID()}`;
  crashAt = 'copied';
  await history(store, other, 4, 2);
  await store.archive(other).catch(() => {});
  crashAt = null;
  for (let i = 0; i < 200 && (await store.archiveProgress(other)).droppedBelow < 2; i++) await store.sweepOnce(1000);
  t.same(await store.archiveProgress(other), { archivedBelow: 3, droppedBelow: 2 }, 'a sweep finishes what a crash left');
});

t.test('the debug API and the CLI show the whole history once hot has dropped most of it', async (t) => {
  const store = await TieredEventStore.connect(settings);
  const server = await startTestServer({ store, service: { snapshot: { eventCount: 3, replayMs: 1_000_000 } } });
  t.teardown(() => server.close());
  const memberId = `tiers-http-${randomUUID()}`;
  for (let i = 1; i <= 6; i++) {
    const res = await server.app.inject({ method: 'POST', url: `/v1/members/${memberId}/licenses`, payload: { deviceId: 'phone', titleId: `t${i}` } });
    t.equal(res.statusCode, 201);
    const licenseId = res.json<{ licenseId: string }>().licenseId;
    const released = await server.app.inject({ method: 'POST', url: `/v1/members/${memberId}/licenses/${licenseId}/release`, payload: { deviceId: 'phone' } });
    t.equal(released.statusCode, 200);
  }
  await store.archive(memberId);
  const progress = await store.archiveProgress(memberId);
  t.ok(progress.droppedBelow >= 2, `generations left hot (${JSON.stringify(progress)})`);
  const head = await store.readHead(memberId);

  const res = await server.app.inject({ method: 'GET', url: `/v1/debug/members/${memberId}/events`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  t.equal(res.statusCode, 200);
  const positions = res.json<{ events: { position: number }[] }>().events.map((e) => e.position);
  t.same(
    positions,
    Array.from({ length: head.position }, (_, i) => i + 1),
    'the debug API: every event once, in order',
  );

  const dir = mkdtempSync(join(tmpdir(), 'license-tiers-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({ service: { store: 'cassandra', cassandra: settings }, rules: testRules() }));
  const dump = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['bin/license-accounting.mjs', '--config', configPath, 'dump', memberId],
      { cwd: REPO_ROOT, env: { ...process.env, LICENSE_CONFIG: '' } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  t.equal(dump.code, 0, dump.stderr);
  t.same(
    dump.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { position: number }).position),
    positions,
    'license-accounting dump: the same history',
  );
});

t.test('with cold unreachable from the start, hot serves: real-time reads, appends and snapshots; archiving waits', async (t) => {
  // Nothing listens on port 1: the cold tier cannot be reached at all.
  const store = await TieredEventStore.connect({ ...settings, requestTimeoutMs: 1000, cold: { contactPoints: ['127.0.0.1:1'] } });
  t.teardown(() => store.close());
  const memberId = `tiers-nocold-${randomUUID()}`;
  const written = await history(store, memberId, 4, 2);
  // A snapshot that just opened generation 4: a load reads it, empty.
  const head = await store.writeSnapshot(memberId, written, { takenAt: 1_700_000_000_100, schemaVersion: 2, payload: '{}' });
  t.same(head, { generation: 4, position: 8 });
  // What a real-time load reads: the latest snapshot, the head, the snapshot's generation.
  t.equal((await store.readLatestSnapshot(memberId))?.generation, 4);
  t.same(await store.readHead(memberId), head);
  t.same(await collect(store.readGeneration(memberId, 4)), [], 'an empty open generation reads as empty, without cold');
  t.same(await store.append(memberId, head, [event(1_700_000_000_200, 9)]), { generation: 4, position: 9 }, 'appends go on');
  await t.rejects(store.archive(memberId), { code: 'STORE_UNAVAILABLE' }, 'archiving waits for cold');
  const hot = tierSettings(settings, 'hot');
  const client = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
  await client.connect();
  t.teardown(() => client.shutdown());
  t.same(await partitions(client, hot.keyspace, memberId, 4), [0, 1, 2, 3, 4], 'nothing left hot');

  // A real-time load says it reads from the latest snapshot on (ReadOptions.sinceLatestSnapshot):
  // an empty generation is then empty, with no look at the archive progress or cold. Shown with a
  // progress row claiming generation 5 archived, which sends a read without the hint to cold.
  await client.execute(`UPDATE ${hot.keyspace}.archive_progress SET archived_below = 6 WHERE member_id = ?`, [memberId], { prepare: true });
  await t.rejects(collect(store.readGeneration(memberId, 5)), { code: 'STORE_UNAVAILABLE' }, 'without the hint, an empty archived generation is read from cold');
  t.same(await collect(store.readGeneration(memberId, 5, { sinceLatestSnapshot: true })), [], 'with it, hot alone answers');
});

/**
 * The two tiers on two private nodes (hot and cold, their own ports and run folders; the shared
 * test node is untouched). Cold killed: hot keeps serving, the archiver waits (no hot partition
 * dropped before cold holds its rows) and catches up once cold is back. Hot killed under load:
 * checks of members not in memory are answered from cold and marked degraded, commands answer
 * 503 STORE_UNAVAILABLE with Retry-After, nothing acknowledged is lost, and the service recovers
 * by itself when hot returns. Both nodes are killed with SIGKILL.
 */
import t from 'tap';
import { join } from 'node:path';
import cassandra from 'cassandra-driver';
import { CASSANDRA_DIR, startCassandra, stopCassandra } from '../../cluster/cassandra/node.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { tierSettings } from '../../src/store/cassandra/tiers/tier-settings.ts';
import { debugReaderOf } from '../../src/store/read-purpose.ts';
import { startTestServer } from '../support/fixtures.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import type { Json } from '../http/http-support.ts';

const HOT = { runDir: join(CASSANDRA_DIR, '.run-tiers-hot'), port: 19242, storagePort: 17200 };
const COLD = { runDir: join(CASSANDRA_DIR, '.run-tiers-cold'), port: 19243, storagePort: 17201 };
const NODE = { heapMb: 512, timeoutMs: 240_000 };
const settings = cassandraTestSettings({
  contactPoints: [`127.0.0.1:${HOT.port}`],
  requestTimeoutMs: 2000,
  keyspace: 'license_tiers_fault',
  cold: { contactPoints: [`127.0.0.1:${COLD.port}`] },
});
const MEMBERS = ['tier-a', 'tier-b', 'tier-c'];

// As in cassandra-outage.test.ts: driver clients that lived through killed nodes may keep
// reconnection timers; leave once every test and teardown is done.
t.teardown(() => {
  setTimeout(() => process.exit(), 5000).unref();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('two tiers on two nodes: cold lost, then hot lost under load', { timeout: 600_000 }, async (t) => {
  await Promise.all([stopCassandra({ runDir: HOT.runDir }), stopCassandra({ runDir: COLD.runDir })]);
  const [hotNode, coldNode] = await Promise.all([startCassandra({ ...HOT, ...NODE, fresh: true }), startCassandra({ ...COLD, ...NODE, fresh: true })]);
  const closers: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await Promise.all([stopCassandra({ runDir: HOT.runDir }), stopCassandra({ runDir: COLD.runDir })]);
  });

  const store = await TieredEventStore.connect(settings);
  // A snapshot every 3 events: generations seal (and archive) often.
  const service = { snapshot: { eventCount: 3, replayMs: 1_000_000 } };
  const server = await startTestServer({ store, service });
  // A second service on the same store, started now, whose memory stays empty: its members are
  // "not in memory" when hot dies. Closed first (closing a server closes the store).
  const fresh = await startTestServer({ store, service });
  closers.push(() => server.close());
  closers.push(() => fresh.close());
  const inject = server.app.inject.bind(server.app);
  const hotClient = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter, keyspace: tierSettings(settings, 'hot').keyspace });
  await hotClient.connect();
  closers.push(() => hotClient.shutdown());

  const acknowledged = new Map<string, Set<string>>(MEMBERS.map((m) => [m, new Set<string>()]));
  let title = 0;
  /** Acquires and releases one title; records the license once its acquire is acknowledged. */
  async function cycle(memberId: string, via = inject): Promise<number> {
    title += 1;
    const res = await via({ method: 'POST', url: `/v1/members/${memberId}/licenses`, payload: { deviceId: 'phone', titleId: `title-${title}` } });
    if (res.statusCode !== 201) return res.statusCode;
    const licenseId = res.json<{ licenseId: string }>().licenseId;
    acknowledged.get(memberId)?.add(licenseId);
    const released = await via({ method: 'POST', url: `/v1/members/${memberId}/licenses/${licenseId}/release`, payload: { deviceId: 'phone' } });
    return released.statusCode === 200 ? 201 : released.statusCode;
  }
  for (const memberId of MEMBERS) for (let i = 0; i < 5; i++) t.equal(await cycle(memberId), 201);
  for (const memberId of MEMBERS) await store.archive(memberId);

  async function hotGenerations(memberId: string, upTo: number): Promise<number[]> {
    const present: number[] = [];
    for (let g = 0; g <= upTo; g++) {
      const rows = await hotClient.execute('SELECT member_id FROM events_v2 WHERE member_id = ? AND generation = ? LIMIT 1', [memberId, g], { prepare: true });
      if (rows.rowLength > 0) present.push(g);
    }
    return present;
  }

  // --- Cold lost: hot keeps serving, nothing is dropped that cold does not hold.
  const before = await store.archiveProgress('tier-a');
  t.ok(before.droppedBelow >= 1, `archived and dropped before the outage (${JSON.stringify(before)})`);
  process.kill(coldNode.pid, 'SIGKILL');
  await sleep(500);
  for (let i = 0; i < 4; i++) t.equal(await cycle('tier-a'), 201, 'commands go on with cold down');
  await store.archive('tier-a').then(
    () => t.fail('archiving cannot finish without cold'),
    () => t.pass('archiving waits for cold'),
  );
  // An operator sees the background work fail on /metrics (each node's store keeps the tallies).
  const seen = (await inject({ method: 'GET', url: '/metrics' })).body;
  const tally = (work: string): number => Number(new RegExp(`^event_store_background_total\\{work="${work}"[^}]*\\} (\\d+)`, 'm').exec(seen)?.[1] ?? 0);
  t.ok(tally('archiveFailures') >= 1, `archive failures are counted on /metrics (${tally('archiveFailures')})`);
  t.ok(tally('copiesFailed') + tally('copiesSkipped') >= 1, `cold copies that could not be made are counted (${tally('copiesFailed')} failed, ${tally('copiesSkipped')} skipped)`);
  const during = await store.archiveProgress('tier-a');
  t.same(during, before, 'no progress recorded while cold is away');
  const head = await store.readHead('tier-a');
  t.same(
    await hotGenerations('tier-a', head.generation),
    Array.from({ length: head.generation - during.droppedBelow + 1 }, (_, i) => during.droppedBelow + i),
    'every generation not archived is still in hot',
  );

  await startCassandra({ ...COLD, ...NODE, keepData: true });
  let caughtUp = false;
  const sealedBelow = (await store.readLatestSnapshot('tier-a'))?.generation ?? 0;
  for (const deadline = Date.now() + 90_000; Date.now() < deadline && !caughtUp;) {
    await store.archive('tier-a').catch(() => {});
    const progress = await store.archiveProgress('tier-a').catch(() => during);
    caughtUp = progress.archivedBelow === sealedBelow && progress.droppedBelow === sealedBelow - 1;
    if (!caughtUp) await sleep(1000);
  }
  t.ok(caughtUp, 'archiving catches up once cold is back');
  t.same(await hotGenerations('tier-a', head.generation), [sealedBelow - 1, sealedBelow], 'then hot holds two generations');

  // --- Hot lost under load.
  for (const memberId of MEMBERS) await store.archive(memberId);
  let loading = true;
  const load = (async () => {
    const codes: number[] = [];
    while (loading) {
      codes.push(await cycle('tier-c'));
      await sleep(20);
    }
    return codes;
  })();
  await sleep(300);
  process.kill(hotNode.pid, 'SIGKILL');
  await sleep(1000);

  const freshInject = fresh.app.inject.bind(fresh.app);
  const check = await freshInject({ method: 'GET', url: '/v1/members/tier-b/check?deviceId=phone&titleId=title-new' });
  t.equal(check.statusCode, 200, 'a member not in memory is checked from cold');
  t.equal(check.headers['x-license-degraded'], 'hot-tier-unavailable', 'and the answer is marked degraded');
  t.equal(check.json<Json>().allowed, true);
  const refusedCheck = await freshInject({ method: 'GET', url: '/v1/members/tier-b/check?deviceId=phone&titleId=title-new' });
  t.equal(refusedCheck.headers['x-license-degraded'], 'hot-tier-unavailable', 'the member loaded from cold stays marked');
  const metrics = await freshInject({ method: 'GET', url: '/metrics' });
  t.match(metrics.body, /outcome="degraded",reason="HOT_TIER_UNAVAILABLE"/, 'a metric counts degraded checks');

  const command = await freshInject({ method: 'POST', url: '/v1/members/tier-b/licenses', payload: { deviceId: 'phone', titleId: 'title-new' } });
  t.equal(command.statusCode, 503, 'a command is refused while hot is away');
  t.equal(command.json<Json>().code, 'STORE_UNAVAILABLE');
  t.ok(command.headers['retry-after'], 'with Retry-After');

  loading = false;
  const codes = await load;
  t.ok(codes.includes(201) || codes.length > 0, `load ran (${codes.length} cycles)`);
  t.ok(
    codes.every((code) => code === 201 || code === 503),
    'the load saw only successes and 503s',
  );

  await startCassandra({ ...HOT, ...NODE, keepData: true });
  let recovered = false;
  for (const deadline = Date.now() + 90_000; Date.now() < deadline && !recovered;) {
    const code = await cycle('tier-b', freshInject);
    recovered = code === 201;
    if (!recovered) await sleep(1000);
  }
  t.ok(recovered, 'commands on a member loaded from cold succeed again once hot is back (reloaded from hot)');
  const after = await freshInject({ method: 'GET', url: '/v1/members/tier-b/check?deviceId=phone&titleId=title-other' });
  t.equal(after.headers['x-license-degraded'], undefined, 'and its checks are no longer degraded');
  t.equal(await cycle('tier-c'), 201, 'the member under load too');

  // Nothing acknowledged is lost: the whole history, read by purpose (cold plus hot's unarchived).
  for (const memberId of MEMBERS) await store.archive(memberId).catch(() => {});
  const history = debugReaderOf(store);
  for (const memberId of MEMBERS) {
    const stored = new Set<string>();
    const positions: number[] = [];
    const last = await history.readHead(memberId);
    for (let generation = 0; generation <= last.generation; generation++) {
      for await (const row of history.readGeneration(memberId, generation)) {
        positions.push(row.position);
        const event = decodeEvent(row);
        if (event.type === 'LicenseAcquired') stored.add(event.licenseId);
      }
    }
    t.same(
      positions,
      Array.from({ length: last.position }, (_, i) => i + 1),
      `${memberId}: every position once, in order`,
    );
    const missing = [...(acknowledged.get(memberId) ?? [])].filter((id) => !stored.has(id));
    t.same(missing, [], `${memberId}: every acknowledged license is stored (${acknowledged.get(memberId)?.size})`);
  }
});

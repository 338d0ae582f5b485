/**
 * An operator's view of the store: GET /v1/admin/store (the Cassandra hosts the driver sees up
 * or down, the consistency levels in force; SQLite: its kind, no hosts) and the per-host
 * request and error counts on /metrics, from the main thread's store and a worker's.
 */
import t from 'tap';
import { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { startTestServer } from '../support/fixtures.ts';
import { AUTH, expectUnauthorized, send } from './admin-support.ts';

interface StoreView {
  kind: string;
  keyspace?: string;
  consistency?: { read: string; write: string; serial: string };
  hosts: { address: string; datacenter: string; up: boolean }[];
  tiers?: { hot: { keyspace: string }; cold: { keyspace: string; connected: boolean; hosts: { address: string; up: boolean }[] }; background: Record<string, number> };
}

/** The value of one series of the exposition, or null when it is absent. */
function sample(text: string, name: string, labels: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('SQLite: the store view names the kind and no hosts; admin token required', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const res = await send(s.app, { method: 'GET', url: '/v1/admin/store', headers: AUTH });
  t.equal(res.status, 200);
  t.same(res.body, { kind: 'sqlite', hosts: [] });
  expectUnauthorized(t, await send(s.app, { method: 'GET', url: '/v1/admin/store' }), 'no token');
  const metrics = await send(s.app, { method: 'GET', url: '/metrics', headers: AUTH });
  t.notMatch(metrics.raw, /cassandra_host_requests_total/, 'no per-host series without Cassandra');
});

t.test('Cassandra: the one local host up, the configured consistency levels, per-host counts on /metrics', async (t) => {
  // Levels that differ from the defaults, to see that the answer reads the config.
  const settings = cassandraTestSettings({ readConsistency: 'LOCAL_ONE', writeConsistency: 'QUORUM', serialConsistency: 'SERIAL' });
  const store = await TieredEventStore.connect(settings);
  const s = await startTestServer({ store, service: { store: 'cassandra', cassandra: settings } });
  t.teardown(() => s.close());

  const res = await send(s.app, { method: 'GET', url: '/v1/admin/store', headers: AUTH });
  t.equal(res.status, 200);
  const view = res.body as unknown as StoreView;
  t.equal(view.kind, 'cassandra');
  t.equal(view.keyspace, settings.keyspace);
  t.same(view.consistency, { read: 'LOCAL_ONE', write: 'QUORUM', serial: 'SERIAL' });
  t.equal(view.hosts.length, 1, 'the single local node');
  const [host] = view.hosts;
  t.equal(host?.up, true, 'seen up');
  t.equal(host?.address, settings.contactPoints[0]?.includes(':') ? settings.contactPoints[0] : `${settings.contactPoints[0]}:9042`, 'by its ip:port');
  t.equal(host?.datacenter, settings.localDataCenter);
  // The two tiers (the dashboard's store view shows them): hot is the keyspace above, cold its own.
  t.same(view.tiers?.hot, { keyspace: settings.keyspace }, 'the hot tier');
  t.equal(view.tiers?.cold.keyspace, `${settings.keyspace}_cold`, "the cold tier's keyspace");
  t.equal(view.tiers?.cold.connected, true, 'the cold tier is connected');
  t.same(
    view.tiers?.cold.hosts.map((h) => [h.address, h.up]),
    [[host?.address, true]],
    "the cold tier's hosts as its driver sees them",
  );
  t.same(Object.keys(view.tiers?.background ?? {}).sort(), ['archiveFailures', 'archiveRuns', 'copiesFailed', 'copiesSkipped', 'sweeps'], 'the background work counts');
  expectUnauthorized(t, await send(s.app, { method: 'GET', url: '/v1/admin/store' }), 'no token');

  const address = host?.address ?? '';
  const scrape = async () => (await send(s.app, { method: 'GET', url: '/metrics', headers: AUTH })).raw;
  const first = sample(await scrape(), 'cassandra_host_requests_total', `host="${address}"`);
  t.ok(first !== null && first > 0, `requests counted for ${address} (${first})`);
  const acquired = await send(s.app, {
    method: 'POST',
    url: `/v1/members/store-view-${Date.now()}/licenses`,
    headers: { 'content-type': 'application/json' },
    payload: { deviceId: 'd1', titleId: 't1' },
  });
  t.equal(acquired.status, 201);
  const text = await scrape();
  const second = sample(text, 'cassandra_host_requests_total', `host="${address}"`) ?? 0;
  t.ok(second > (first ?? 0), `an acquire adds requests (${first} -> ${second})`);
  t.equal(sample(text, 'cassandra_host_errors_total', `host="${address}"`), 0, 'no errors, and the series is there');
});

t.test("Cassandra with a worker thread: the worker's per-host counts are merged into /metrics", async (t) => {
  const settings = cassandraTestSettings();
  const store = await TieredEventStore.connect(settings);
  const s = await startTestServer({ store, service: { store: 'cassandra', cassandra: settings, actors: { workers: 1 } } as never });
  t.teardown(() => s.close());
  const acquired = await send(s.app, {
    method: 'POST',
    url: `/v1/members/store-view-worker-${Date.now()}/licenses`,
    headers: { 'content-type': 'application/json' },
    payload: { deviceId: 'd1', titleId: 't1' },
  });
  t.equal(acquired.status, 201);
  const text = (await send(s.app, { method: 'GET', url: '/metrics', headers: AUTH })).raw;
  const workerLine = text.split('\n').find((line) => line.startsWith('cassandra_host_requests_total{') && line.includes('worker='));
  t.ok(workerLine, `a worker's series: ${workerLine}`);
  t.ok(Number(workerLine?.slice(workerLine.lastIndexOf(' ') + 1)) > 0, 'with its requests');
});

/** GET /metrics: Prometheus text with HTTP, decision, store, cache and rules metrics, merged from every worker. */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { watchStoreBackgroundWork } from '../../src/observability/metrics.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { startTestServer, type TestServer } from '../support/fixtures.ts';
import type { Json } from '../http/http-support.ts';

function value(text: string, pattern: RegExp): number {
  const line = text.split('\n').find((l) => pattern.test(l));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function exercise(t: Test, server: TestServer): Promise<string> {
  const acquire = await server.app.inject({ method: 'POST', url: '/v1/members/metrics-m1/licenses', payload: { deviceId: 'd1', titleId: 'strict-a' } });
  t.equal(acquire.statusCode, 201);
  // The strict studio allows 2 active downloads: the third is refused with STUDIO_LIMIT.
  await server.app.inject({ method: 'POST', url: '/v1/members/metrics-m1/licenses', payload: { deviceId: 'd1', titleId: 'strict-b' } });
  const refused = await server.app.inject({ method: 'POST', url: '/v1/members/metrics-m1/licenses', payload: { deviceId: 'd1', titleId: 'strict-c' } });
  t.equal(refused.json<Json>().reason, 'STUDIO_LIMIT');
  for (let i = 0; i < 3; i++) await server.app.inject({ method: 'GET', url: '/v1/members/metrics-m1/check?deviceId=d1&titleId=open-a' });
  const res = await server.app.inject({ method: 'GET', url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/plain/);
  return res.body;
}

t.test('in-process service', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const text = await exercise(t, server);
  t.equal(value(text, /^http_requests_total\{.*route="\/v1\/members\/:memberId\/licenses".*status="201"/), 2, 'requests by route pattern and status');
  t.equal(value(text, /^http_requests_total\{.*status="409"/), 1);
  t.equal(value(text, /^decisions_total\{command="AcquireLicense",outcome="refused",reason="STUDIO_LIMIT"\}/), 1, 'decisions by reason');
  t.equal(value(text, /^decisions_total\{command="AcquireLicense",outcome="done",reason="NONE"\}/), 2);
  t.equal(value(text, /^decisions_total\{command="Check",outcome="allowed",reason="NONE"\}/), 3);
  t.ok(value(text, /^event_store_operation_seconds_count\{operation="append",store="sqlite",worker="main"\}/) >= 2, 'store latency by operation');
  t.equal(value(text, /^members_in_memory\{worker="main"\}/), 1);
  t.ok(value(text, /^member_cache_hits_total\{worker="main"\}/) >= 3, 'checks answered from memory');
  t.equal(value(text, /^member_loads_total\{worker="main"\}/), 1);
  t.equal(value(text, /^rules_info\{version="test-1"\}/), 1, 'rules version');
  t.match(text, /process_cpu_seconds_total/);
});

t.test('worker threads: each worker reports, labelled with its id', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startTestServer({
    service: { sqlite: { path: join(dir, 'events.db') }, actors: { workers: 2, maxQueuedPerMember: 64, maxPendingPerWorker: 10000, groupCommit: true } },
  });
  t.teardown(() => server.close());
  const text = await exercise(t, server);
  const owner = server.pool?.workerOf('metrics-m1');
  t.ok(owner);
  t.equal(value(text, new RegExp(`^members_in_memory\\{worker="${owner}"\\}`)), 1, 'the owner holds the member');
  for (const id of server.pool?.workerIds ?? []) t.match(text, new RegExp(`members_in_memory\\{worker="${id}"\\}`), `${id} reports`);
  for (const id of server.pool?.workerIds ?? []) {
    // Each worker thread is its own V8 isolate: its heap is its own series, next to the main thread's.
    t.ok(value(text, new RegExp(`^nodejs_heap_size_used_bytes\\{worker="${id}"\\}`)) > 0, `${id} reports its heap`);
    t.ok(value(text, new RegExp(`^nodejs_heap_size_total_bytes\\{worker="${id}"\\}`)) > 0, `${id} reports its heap size`);
  }
  t.ok(value(text, /^nodejs_heap_size_used_bytes /) > 0, "the main thread's heap stays a series of its own");
  t.ok(value(text, new RegExp(`^event_store_operation_seconds_count\\{operation="appendMany",store="sqlite",worker="${owner}"\\}`)) >= 2, 'group commits are timed in the worker');
});

t.test("a store's background work is exported as counters that follow its tallies", async (t) => {
  const registry = new Registry();
  const tallies = { copiesFailed: 2, archiveRuns: 5 };
  // A store that does background work keeps tallies as `counters` (the tiered Cassandra store does).
  watchStoreBackgroundWork(registry, Object.assign(new SqliteEventStore(':memory:'), { counters: tallies }));
  t.equal(value(await registry.metrics(), /^event_store_background_total\{work="copiesFailed"\}/), 2);
  tallies.copiesFailed = 7;
  tallies.archiveRuns = 6;
  const text = await registry.metrics();
  t.equal(value(text, /^event_store_background_total\{work="copiesFailed"\}/), 7, 'a scrape reports the tally, not the increments summed twice');
  t.equal(value(text, /^event_store_background_total\{work="archiveRuns"\}/), 6);

  const none = new Registry();
  watchStoreBackgroundWork(none, new SqliteEventStore(':memory:'));
  t.notMatch(await none.metrics(), /event_store_background_total/, 'a store without background work adds no metric');
});

t.test('each route counts its own answers once, HEAD twins too; what no route matched is "unmatched"', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.close());
  const check = '/v1/members/metrics-m2/check?deviceId=d1&titleId=open-a';
  for (let i = 0; i < 2; i++) t.equal((await server.app.inject({ method: 'GET', url: check })).statusCode, 200);
  t.equal((await server.app.inject({ method: 'HEAD', url: check })).statusCode, 200);
  t.equal((await server.app.inject({ method: 'GET', url: '/no/such/route' })).statusCode, 404);
  t.equal((await server.app.inject({ method: 'GET', url: '/v1/members/metrics-m2/check?deviceId=d1' })).statusCode, 400);
  const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
  t.equal(value(text, /^http_requests_total\{method="GET",route="\/v1\/members\/:memberId\/check",status="200"\}/), 2);
  t.equal(value(text, /^http_requests_total\{method="HEAD",route="\/v1\/members\/:memberId\/check",status="200"\}/), 1);
  t.equal(value(text, /^http_requests_total\{method="GET",route="\/v1\/members\/:memberId\/check",status="400"\}/), 1);
  t.equal(value(text, /^http_requests_total\{method="GET",route="unmatched",status="404"\}/), 1);
  t.equal(value(text, /^http_request_duration_seconds_count\{method="GET",route="\/v1\/members\/:memberId\/check"\}/), 3);
  t.equal(value(text, /^decisions_total\{command="Check",outcome="allowed",reason="NONE"\}/), 3, 'the HEAD check decided too');
  const again = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
  t.equal(value(again, /^http_requests_total\{method="GET",route="\/v1\/members\/:memberId\/check",status="200"\}/), 2, 'a second scrape adds nothing twice');
  t.equal(value(again, /^http_requests_total\{method="GET",route="\/metrics",status="200"\}/), 1, 'the first scrape is counted once it is answered');
});

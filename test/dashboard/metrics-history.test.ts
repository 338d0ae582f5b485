/**
 * The dashboard's metrics history (src/dashboard/metrics-history.ts) and its route
 * GET /v1/admin/metrics/history: rates and p99 from the differences of consecutive readings, a
 * bounded ring, the route behind the admin token with VALIDATION_FAILED for a bad window, and the
 * reader over the service's own metrics (requests per route, members in memory, store counts).
 */
import t from 'tap';
import { MetricsHistory, quantileMs, type Reading } from '../../src/dashboard/metrics-history.ts';
import { EdgeMetrics, ServiceMetrics } from '../../src/observability/metrics.ts';
import { serviceReader } from '../../src/dashboard/metrics-history.ts';
import type { ServiceStats } from '../../src/service/license-service.ts';
import { get, server } from '../http/http-support.ts';

const BOUNDS = [0.001, 0.01, 0.1, Infinity];

/** A reading of one operation with `count` requests, cumulative per bucket. */
function reading(count: number, cumulative: number[], workers = new Map([['w1', { membersInMemory: 3, mailboxDepth: 1 }]])): Omit<Reading, 'at'> {
  return {
    operations: new Map([['GET /v1/members/:memberId/licenses', { count, bounds: BOUNDS, cumulative }]]),
    workers,
    storeOperations: new Map([['append', count]]),
    snapshotsTaken: 2,
  };
}

t.test('quantileMs interpolates inside the bucket, as histogram_quantile does', async (t) => {
  t.equal(quantileMs(BOUNDS, [0, 0, 0, 0], 0, 0.99), null, 'no requests: null');
  // 100 requests, all within 1..10 ms: the 99th is 99% of the way through that bucket.
  t.equal(quantileMs(BOUNDS, [0, 100, 100, 100], 100, 0.99), 1 + 9 * 0.99);
  // 99 fast, 1 slow (10..100 ms): the 99th is still in the first bucket's top.
  t.equal(quantileMs(BOUNDS, [99, 99, 100, 100], 100, 0.99), 1);
  // Past the last finite bound: that bound (the histogram knows no more).
  t.equal(quantileMs(BOUNDS, [0, 0, 0, 10], 10, 0.99), 100);
});

t.test('points: requests per second and p99 between consecutive readings; a reset counter gives no point for it', async (t) => {
  let now = 1_000_000;
  const queue = [reading(0, [0, 0, 0, 0]), reading(50, [0, 50, 50, 50]), reading(60, [10, 60, 60, 60]), reading(5, [5, 5, 5, 5])];
  const history = new MetricsHistory(async () => queue.shift() ?? reading(5, [5, 5, 5, 5]), { intervalMs: 5000, capacity: 10, now: () => now });
  for (let i = 0; i < 4; i++) {
    await history.sample();
    now += 5000;
  }
  const answer = history.points(60);
  t.equal(answer.points.length, 3, 'one point per pair of readings');
  const [first, second, third] = answer.points;
  t.same(first?.operations, [{ operation: 'GET /v1/members/:memberId/licenses', requestsPerSecond: 10, p99Ms: 1 + 9 * 0.99 }], '50 requests in 5 s, all 1..10 ms');
  t.same(second?.operations, [{ operation: 'GET /v1/members/:memberId/licenses', requestsPerSecond: 2, p99Ms: 1 * 0.99 }], '10 more, all under 1 ms');
  t.same(third?.operations, [], 'a counter that went down (a restart): no rate');
  t.same(first?.workers, [{ worker: 'w1', membersInMemory: 3, mailboxDepth: 1 }]);
  t.same(answer.totals, { at: new Date(1_015_000).toISOString(), snapshotsTaken: 2, storeOperations: [{ operation: 'append', count: 5 }] }, 'totals from the latest reading');
  t.equal(history.points(5).points.length, 1, 'a shorter window: fewer points');
});

t.test('the ring is bounded: old readings drop out', async (t) => {
  let now = 0;
  let count = 0;
  const history = new MetricsHistory(async () => reading((count += 10), [0, count, count, count]), { intervalMs: 1000, capacity: 5, now: () => now });
  for (let i = 0; i < 50; i++) {
    await history.sample();
    now += 1000;
  }
  t.equal(history.windowSeconds, 4);
  t.equal(history.points(1_000_000).points.length, 4, 'capacity 5: four points, never more');
});

t.test('a reading that fails is a gap, not a crash; a slow one is not overlapped', async (t) => {
  let calls = 0;
  let release: () => void = () => {};
  const history = new MetricsHistory(
    async () => {
      calls += 1;
      if (calls === 1) throw new Error('worker being replaced');
      await new Promise<void>((resolve) => (release = resolve));
      return reading(1, [1, 1, 1, 1]);
    },
    { intervalMs: 1000, capacity: 5 },
  );
  await history.sample();
  t.equal(history.points(60).totals, null, 'nothing kept from a failed reading');
  const slow = history.sample();
  await history.sample(); // skipped: the previous one is still reading
  t.equal(calls, 2, 'no second reading while one is in flight');
  release();
  await slow;
  t.not(history.points(60).totals, null, 'the slow reading was kept');
});

t.test('GET /v1/admin/metrics/history: behind the token, VALIDATION_FAILED for a bad window', async (t) => {
  const s = await server(t);
  const unauthorized = await s.app.inject({ url: '/v1/admin/metrics/history' });
  t.equal(unauthorized.statusCode, 401, 'no token: 401');
  t.equal((JSON.parse(unauthorized.body) as { code: string }).code, 'UNAUTHORIZED');
  const wrong = await s.app.inject({ url: '/v1/admin/metrics/history', headers: { authorization: 'Bearer not-the-token-at-all' } });
  t.equal(wrong.statusCode, 401, 'wrong token: 401');

  const ok = await get(s, '/v1/admin/metrics/history');
  t.equal(ok.status, 200, ok.raw);
  t.equal(ok.body['intervalMs'], 5000);
  t.equal(ok.body['windowSeconds'], 600);
  t.ok(Array.isArray(ok.body['points']));

  for (const [query, field] of [
    ['seconds=abc', 'querystring.seconds'],
    ['seconds=-5', 'querystring.seconds'],
    ['seconds=9', 'querystring.seconds'],
    ['seconds=601', 'querystring.seconds'],
    ['seconds=1.5', 'querystring.seconds'],
    ['minutes=5', 'querystring.minutes'],
  ] as const) {
    const bad = await get(s, `/v1/admin/metrics/history?${query}`);
    t.equal(bad.status, 400, `${query}: 400 (${bad.raw})`);
    t.equal(bad.body['code'], 'VALIDATION_FAILED', `${query}: VALIDATION_FAILED`);
    t.equal(bad.body['field'], field, `${query}: names ${field}`);
  }
  t.equal((await get(s, '/v1/admin/metrics/history?seconds=10')).status, 200, 'the shortest window');
  t.equal((await get(s, '/v1/admin/metrics/history?seconds=600')).status, 200, 'the whole window');
});

t.test('serviceReader: requests per route from the edge histogram, members and mailboxes per worker, store counts', async (t) => {
  const edge = new EdgeMetrics(() => 'test');
  const stats = { membersInMemory: 7, approximateBytes: 0, mailboxDepth: 2, loads: 0, cacheHits: 0 } as unknown as ServiceStats;
  const worker = new ServiceMetrics({ worker: 'w1' }, () => stats);
  const reader = serviceReader(edge, async () => [await worker.json()]);
  const empty = await reader();
  t.same([...empty.operations], [], 'no request yet: no operation');
  t.same([...empty.workers], [['w1', { membersInMemory: 7, mailboxDepth: 2 }]], "the worker's gauges");

  edge.requestSeconds.labels({ method: 'GET', route: '/v1/members/:memberId/licenses' }).observe(0.004);
  edge.requestSeconds.labels({ method: 'GET', route: '/dashboard/*' }).observe(0.001);
  worker.storeSeconds.labels({ operation: 'append', store: 'sqlite' }).observe(0.002);
  worker.snapshots.inc({ store: 'sqlite' });
  const one = await reader();
  t.same([...one.operations.keys()], ['GET /v1/members/:memberId/licenses'], "the dashboard's own files are not charted");
  const licenses = one.operations.get('GET /v1/members/:memberId/licenses');
  t.equal(licenses?.count, 1);
  t.equal(licenses?.bounds.at(-1), Infinity, '+Inf is the last bound');
  t.equal(licenses?.cumulative.at(-1), 1, 'cumulative: the last bucket holds every request');
  t.same([...one.storeOperations], [['append', 1]], 'store operations counted');
  t.equal(one.snapshotsTaken, 1, 'snapshots counted');
});

/** service.rateLimit: a token bucket per member on /v1/members routes; 429 RATE_LIMITED with Retry-After. */
import Fastify from 'fastify';
import t from 'tap';
import { installMemberRateLimit, TokenBuckets } from '../../src/http/rate-limit.ts';
import { server } from '../http/http-support.ts';
import { send } from './admin-support.ts';

const licenses = (memberId: string) => ({ method: 'GET', url: `/v1/members/${memberId}/licenses` }) as const;

t.test('past the burst a member gets 429 RATE_LIMITED with Retry-After; another member is unaffected', async (t) => {
  const s = await server(t, { service: { rateLimit: { perMemberPerSecond: 0.5, burst: 3 } } });
  for (let i = 0; i < 3; i++) t.equal((await send(s.app, licenses('noisy'))).status, 200, `request ${i + 1} within the burst`);
  const limited = await send(s.app, licenses('noisy'));
  t.equal(limited.status, 429, limited.raw);
  t.equal(limited.body['code'], 'RATE_LIMITED');
  t.match(limited.body['message'], /retry after 2 s/);
  t.equal(limited.headers['retry-after'], '2', 'Retry-After: one token at 0.5/s is 2 s away');
  // Every /v1/members route of that member counts, commands too (refused before the body is read).
  const command = await send(s.app, { method: 'POST', url: '/v1/members/noisy/licenses', payload: { deviceId: 'd', titleId: 'film-1' } });
  t.equal(command.status, 429);
  t.equal((await s.store.readHead('noisy')).position, 0, 'a limited command writes nothing');

  for (let i = 0; i < 3; i++) t.equal((await send(s.app, licenses('quiet'))).status, 200, `another member, request ${i + 1}`);
  t.equal((await send(s.app, { method: 'GET', url: '/healthz' })).status, 200, 'health is not rate limited');
  t.equal(
    (await send(s.app, { method: 'GET', url: '/v1/admin/rules', headers: { authorization: 'Bearer test-admin-token-0123456789abcdef' } })).status,
    200,
    'admin is not rate limited',
  );
});

t.test('only /v1/members routes count, a GET and its HEAD twin alike; exempt requests and unmatched URLs never do', async (t) => {
  const app = Fastify();
  t.teardown(() => app.close());
  installMemberRateLimit(app, { perMemberPerSecond: 0.001, burst: 2 }, (request) => request.headers['x-exempt'] === 'yes');
  app.get('/v1/members/:memberId/check', async () => ({ ok: true }));
  app.get('/v1/other/:memberId', async () => ({ ok: true }));
  const status = async (method: 'GET' | 'HEAD', url: string, headers: Record<string, string> = {}) => (await app.inject({ method, url, headers })).statusCode;
  t.equal(await status('GET', '/v1/members/m1/check'), 200);
  t.equal(await status('HEAD', '/v1/members/m1/check'), 200, 'the HEAD twin takes from the same bucket');
  t.equal(await status('GET', '/v1/members/m1/check'), 429, 'the burst is spent');
  t.equal(await status('HEAD', '/v1/members/m1/check'), 429);
  t.equal(await status('GET', '/v1/members/m1/check', { 'x-exempt': 'yes' }), 200, 'an exempt request is neither limited nor counted');
  for (let i = 0; i < 5; i++) t.equal(await status('GET', '/v1/other/m1'), 200, `a route outside /v1/members, request ${i + 1}`);
  t.equal(await status('GET', '/v1/members/m1/nothing'), 404, 'a URL no route matches is not limited');
  t.equal(await status('GET', '/v1/members/m2/check'), 200, 'another member has its own bucket');
});

t.test('rateLimit null: no limit', async (t) => {
  const s = await server(t, { service: { rateLimit: null } });
  for (let i = 0; i < 300; i++) {
    const res = await send(s.app, licenses('m1'));
    if (res.status !== 200) {
      t.fail(`request ${i + 1}: ${res.status}`);
      return;
    }
  }
  t.pass('300 requests in a row');
});

t.test('the bucket refills at the configured rate, up to the burst', async (t) => {
  let now = 0;
  const buckets = new TokenBuckets({ perMemberPerSecond: 10, burst: 2 }, 100, () => now);
  t.equal(buckets.take('a'), 0);
  t.equal(buckets.take('a'), 0);
  t.equal(buckets.take('a'), 1, 'empty: retry in (rounded up) 1 s');
  now += 100; // one token
  t.equal(buckets.take('a'), 0, 'one token after 100 ms');
  t.equal(buckets.take('a'), 1);
  now += 60_000;
  t.equal(buckets.take('a'), 0);
  t.equal(buckets.take('a'), 0);
  t.equal(buckets.take('a'), 1, 'a long pause refills only up to the burst');
  t.equal(buckets.take('b'), 0, 'members have their own buckets');
});

t.test('the buckets are bounded (LRU)', async (t) => {
  const buckets = new TokenBuckets({ perMemberPerSecond: 1, burst: 1 }, 100, () => 0);
  for (let i = 0; i < 1000; i++) buckets.take(`member-${i}`);
  t.equal(buckets.size, 100);
});

t.test('the config defaults: on, generous', async (t) => {
  const { parseConfig } = await import('../../src/config/load.ts');
  const { testRules } = await import('../support/fixtures.ts');
  t.same(parseConfig({ rules: testRules() }, null).service.rateLimit, { perMemberPerSecond: 50, burst: 100 });
  t.same(parseConfig({ service: { rateLimit: { burst: 5 } }, rules: testRules() }, null).service.rateLimit, { perMemberPerSecond: 50, burst: 5 });
  t.throws(() => parseConfig({ service: { rateLimit: { perMemberPerSecond: 0 } }, rules: testRules() }, null), /perMemberPerSecond/);
});

/** The breaker: opens on failures, answers fallbacks without the network, probes after the cool-down, closes on success. */
import t from 'tap';
import type { ServerResponse } from 'node:http';
import { edgeClient, eventually, fallbackCount, json, recordingLogger, stubServer } from './client-support.ts';

const COOL_DOWN_MS = 300;
const failing = (_req: unknown, res: ServerResponse) => json(res, 500, { code: 'INTERNAL', message: 'broken' });
const healthy = (_req: unknown, res: ServerResponse) => json(res, 200, { allowed: true, rulesVersion: 'healthy' });

t.test('opens after failures, stays open without calling, probes after the cool-down and closes on success', async (t) => {
  const stub = await stubServer(t, failing);
  const logger = recordingLogger();
  const { client, registry } = edgeClient(t, {
    baseUrl: stub.baseUrl,
    timeoutMs: 300,
    breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: COOL_DOWN_MS },
    logger,
  });
  const check = () => client.check('m1', { deviceId: 'phone', titleId: 'film-1' });

  for (let i = 0; i < 3; i++) t.match(await check(), { fallback: true, cause: 'status5xx' }, `failure ${i + 1}: a 500 is a fallback`);
  t.equal(stub.hits(), 3, 'a 500 is not retried');
  t.equal(client.stats().breaker, 'open', 'three failures out of three: open');
  t.ok(
    logger.lines.some((l) => l.level === 'warn' && l.obj['breaker'] === 'open'),
    'the opening was logged',
  );

  // Open: the fallback at once, and the service sees nothing.
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    t.same(await check(), { ok: true, fallback: true, cause: 'breakerOpen', allowed: true, rulesVersion: null });
    t.ok(performance.now() - started < 100, 'answered without waiting');
  }
  t.equal(stub.hits(), 3, 'no request reached the service while open');
  t.equal(client.stats().fallbacks.breakerOpen, 5);
  t.equal(await fallbackCount(registry, 'check', 'breakerOpen'), 5);

  // After the cool-down, one probe; the service is still failing: open again.
  t.ok(await eventually(() => client.stats().breaker === 'halfOpen', COOL_DOWN_MS * 5), 'half-open after the cool-down');
  t.match(await check(), { fallback: true, cause: 'status5xx' }, 'the probe went through and failed');
  t.equal(stub.hits(), 4, 'exactly one probe');
  t.equal(client.stats().breaker, 'open', 'a failed probe opens the breaker again');
  t.match(await check(), { fallback: true, cause: 'breakerOpen' });
  t.equal(stub.hits(), 4);

  // The service recovers: the next probe succeeds and the breaker closes.
  stub.handle(healthy);
  t.ok(await eventually(() => client.stats().breaker === 'halfOpen', COOL_DOWN_MS * 5), 'half-open again');
  t.same(await check(), { ok: true, fallback: false, status: 200, replayed: false, allowed: true, rulesVersion: 'healthy' }, 'the probe got the real answer');
  t.equal(stub.hits(), 5);
  t.equal(client.stats().breaker, 'closed', 'a successful probe closes the breaker');
  t.match(await check(), { fallback: false });
  t.equal(stub.hits(), 6, 'closed: calls reach the service again');
  t.ok(
    logger.lines.some((l) => l.obj['breaker'] === 'closed'),
    'the closing was logged',
  );
});

t.test('while half-open only one call probes; the others answer the fallback', async (t) => {
  const stub = await stubServer(t, failing);
  const { client } = edgeClient(t, { baseUrl: stub.baseUrl, timeoutMs: 500, breaker: { volumeThreshold: 1, resetTimeoutMs: COOL_DOWN_MS } });
  t.match(await client.listLicenses('m1'), { fallback: true, cause: 'status5xx' });
  t.equal(client.stats().breaker, 'open');
  // A slow but healthy service: the probe is in flight while the others arrive.
  stub.handle((_req, res) => stub.later(100, () => json(res, 200, { licenses: [] })));
  t.ok(await eventually(() => client.stats().breaker === 'halfOpen', COOL_DOWN_MS * 5));
  const answers = await Promise.all([client.listLicenses('m1'), client.listLicenses('m1'), client.listLicenses('m1')]);
  t.same(
    answers.map((a) => (a.fallback ? a.cause : 'live')),
    ['live', 'breakerOpen', 'breakerOpen'],
    'the first call probed, the two behind it did not wait for it',
  );
  t.equal(stub.hits(), 2, 'one failure, one probe');
  t.equal(client.stats().breaker, 'closed');
});

t.test('4xx answers do not open the breaker', async (t) => {
  const stub = await stubServer(t, (_req, res) => json(res, 404, { code: 'LICENSE_NOT_FOUND', message: 'no such license' }));
  const { client } = edgeClient(t, { baseUrl: stub.baseUrl, breaker: { volumeThreshold: 1, errorThresholdPercentage: 1 } });
  for (let i = 0; i < 5; i++) t.match(await client.renew('m1', 'x'), { ok: false, fallback: false, status: 404, code: 'LICENSE_NOT_FOUND' });
  t.equal(stub.hits(), 5);
  t.equal(client.stats().breaker, 'closed', 'the service answered every time: nothing to protect it from');
});

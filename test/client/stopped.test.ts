/** The edge client when nothing listens: every route answers its fallback, quickly, counted and logged. */
import t from 'tap';
import { edgeClient, fallbackCount, liveService, recordingLogger, unusedPort, UUID } from './client-support.ts';
import type { FallbackEvent } from '../../src/client/index.ts';

const TIMEOUT_MS = 300;
const ATTEMPTS = 3; // retries: 2
const SLACK_MS = 400;

t.test('a stopped service: a check falls back within the bound, retried, counted, logged', async (t) => {
  // A service that was there and stopped: its port now refuses connections.
  const { server, baseUrl } = await liveService(t);
  await server.close();
  const logger = recordingLogger();
  const events: FallbackEvent[] = [];
  const { client, registry } = edgeClient(t, { baseUrl, timeoutMs: TIMEOUT_MS, retry: { retries: 2, backoffMs: 20 }, logger, onFallback: (e) => events.push(e) });

  const started = performance.now();
  const check = await client.check('m1', { deviceId: 'phone', titleId: 'film-1' });
  const elapsed = performance.now() - started;
  t.same(check, { ok: true, fallback: true, cause: 'connection', allowed: true, rulesVersion: null }, 'the fallback: allowed, no rules consulted');
  t.ok(elapsed < TIMEOUT_MS * ATTEMPTS + SLACK_MS, `answered in ${elapsed.toFixed(0)} ms`);

  t.match(client.stats(), { calls: 1, retries: 2, fallbacks: { connection: 1, timeout: 0, status5xx: 0, breakerOpen: 0, total: 1 } });
  t.equal(await fallbackCount(registry, 'check', 'connection'), 1, 'counted in license_client_fallbacks_total');
  t.match(events, [{ route: 'check', cause: 'connection', attempts: 3 }], 'onFallback heard of it');
  t.ok(
    logger.lines.some((l) => l.level === 'warn' && l.obj['route'] === 'check' && l.obj['cause'] === 'connection'),
    'a warning was logged',
  );
});

t.test('an unused port: every route answers its fallback; commands without requestId are not retried', async (t) => {
  const port = await unusedPort();
  // The breaker would open after ten failed attempts (breaker.test.ts): kept out of the way here.
  const breaker = { volumeThreshold: 1000 };
  const { client, registry } = edgeClient(t, { baseUrl: `http://127.0.0.1:${port}`, timeoutMs: TIMEOUT_MS, retry: { retries: 2, backoffMs: 10 }, breaker });

  const started = performance.now();
  const acquired = await client.acquire('m1', { deviceId: 'phone', titleId: 'film-1' });
  t.ok(performance.now() - started < TIMEOUT_MS + SLACK_MS, 'one attempt only');
  t.match(acquired, { ok: true, fallback: true, cause: 'connection', memberId: 'm1', deviceId: 'phone', titleId: 'film-1', studioId: null, expiresAt: null, rulesVersion: null });
  if (!acquired.ok) throw new Error('unreachable');
  t.match(acquired.licenseId, UUID, 'a client-minted license id');
  const again = await client.acquire('m1', { deviceId: 'phone', titleId: 'film-1' });
  if (!again.ok) throw new Error('unreachable');
  t.not(again.licenseId, acquired.licenseId, 'each fallback license has its own id');
  t.equal(client.stats().retries, 0, 'no retry without a requestId');

  t.same(await client.listLicenses('m1'), { ok: true, fallback: true, cause: 'connection', licenses: [] });
  t.equal(client.stats().retries, 2, 'a read is retried');
  t.same(await client.renew('m1', 'lic-1'), { ok: true, fallback: true, cause: 'connection', licenseId: 'lic-1', expiresAt: null, renewals: null });
  t.same(await client.release('m1', 'lic-1', { requestId: 'r-1' }), { ok: true, fallback: true, cause: 'connection', licenseId: 'lic-1', releasedAt: null });
  t.equal(client.stats().retries, 4, 'a command with a requestId is retried');
  t.same(await client.playback('m1', 'lic-1', { events: [{ sessionId: 's', startedAt: new Date().toISOString(), durationMs: 1 }] }), {
    ok: true,
    fallback: true,
    cause: 'connection',
    licenseId: 'lic-1',
    recorded: null,
  });
  t.same(await client.deactivateDevice('m1', 'phone'), { ok: true, fallback: true, cause: 'connection', deviceId: 'phone', releasedLicenseIds: [] });

  t.match(client.stats(), { calls: 7, retries: 4, fallbacks: { connection: 7, total: 7 } });
  for (const [route, count] of [
    ['acquire', 2],
    ['listLicenses', 1],
    ['renew', 1],
    ['release', 1],
    ['playback', 1],
    ['deactivate', 1],
  ] as const) {
    t.equal(await fallbackCount(registry, route, 'connection'), count, `counter for ${route}`);
  }
});

t.test('a closed client refuses calls rather than falling back', async (t) => {
  const port = await unusedPort();
  const { client } = edgeClient(t, { baseUrl: `http://127.0.0.1:${port}` });
  await client.close();
  await t.rejects(client.check('m1', { deviceId: 'd', titleId: 'x' }), /closed/);
  await client.close(); // idempotent
});

/** The edge client against the real service on a loopback port: real answers, typed refusals, the requestId retry. */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { DAY, T0 } from '../support/fixtures.ts';
import { edgeClient, json, liveService, stubServer, UUID } from './client-support.ts';

const iso = (at: number) => new Date(at).toISOString();

t.test('check, acquire, list, renew, release, playback, deactivate: the service answers, never a fallback', async (t) => {
  const { baseUrl } = await liveService(t);
  const { client } = edgeClient(t, { baseUrl });

  const check = await client.check('m1', { deviceId: 'phone', titleId: 'film-1' });
  t.same(check, { ok: true, fallback: false, status: 200, replayed: false, allowed: true, rulesVersion: 'test-1' }, 'check: allowed by the service');

  const acquired = await client.acquire('m1', { deviceId: 'phone', titleId: 'film-1' });
  if (!acquired.ok || acquired.fallback) throw new Error(`acquire answered ${JSON.stringify(acquired)}`);
  t.equal(acquired.status, 201);
  t.match(acquired.licenseId, UUID);
  t.equal(acquired.expiresAt, iso(T0 + 30 * DAY), 'a real license: the service set its expiry');
  t.equal(acquired.rulesVersion, 'test-1');
  const licenseId = acquired.licenseId;

  const listed = await client.listLicenses('m1');
  if (!listed.ok || listed.fallback) throw new Error(`list answered ${JSON.stringify(listed)}`);
  t.same(
    listed.licenses.map((l) => [l.licenseId, l.deviceId, l.titleId, l.renewals]),
    [[licenseId, 'phone', 'film-1', 0]],
    'the list holds the acquired license',
  );

  const renewed = await client.renew('m1', licenseId, { deviceId: 'phone' });
  t.match(renewed, { ok: true, fallback: false, status: 200, licenseId, renewals: 1, expiresAt: iso(T0 + 60 * DAY) }, 'renewed by one window');

  const played = await client.playback('m1', licenseId, { events: [{ sessionId: 's1', startedAt: iso(T0), durationMs: 60_000 }] });
  t.match(played, { ok: true, fallback: false, status: 202, licenseId, recorded: 1 });

  const released = await client.release('m1', licenseId);
  t.match(released, { ok: true, fallback: false, status: 200, licenseId, releasedAt: iso(T0) });
  const after = await client.listLicenses('m1');
  t.match(after, { ok: true, fallback: false, licenses: [] }, 'released: no active license left');

  // Deactivating a device that held a download: released nothing (already released), counted.
  const second = await client.acquire('m1', { deviceId: 'tablet', titleId: 'film-2' });
  if (!second.ok) throw new Error('second acquire refused');
  const deactivated = await client.deactivateDevice('m1', 'tablet');
  t.match(deactivated, { ok: true, fallback: false, status: 200, deviceId: 'tablet', releasedLicenseIds: [second.licenseId] });

  t.match(client.stats(), { calls: 9, retries: 0, fallbacks: { total: 0 }, breaker: 'closed' });
});

t.test('refusals and other 4xx are typed results, not fallbacks', async (t) => {
  const { baseUrl } = await liveService(t);
  const { client, registry } = edgeClient(t, { baseUrl });

  const first = await client.acquire('m1', { deviceId: 'phone', titleId: 'film-1', plan: 'basic' });
  t.match(first, { ok: true, fallback: false });
  // The basic plan allows one download device: a second device is refused (409 DEVICE_LIMIT).
  const refused = await client.acquire('m1', { deviceId: 'tablet', titleId: 'film-2', plan: 'basic' });
  t.match(refused, { ok: false, fallback: false, kind: 'refusal', status: 409, code: 'LICENSE_REFUSED', reason: 'DEVICE_LIMIT', rulesVersion: 'test-1' });
  if (refused.ok) throw new Error('unreachable');
  t.type(refused.details, 'object', 'the refusal says what counts toward the limit');

  const checked = await client.check('m1', { deviceId: 'tablet', titleId: 'film-2', plan: 'basic' });
  t.match(checked, { ok: true, fallback: false, allowed: false, reason: 'DEVICE_LIMIT' }, 'a check that says no is an answer, not an error');

  const missing = await client.renew('m1', 'no-such-license');
  t.match(missing, { ok: false, fallback: false, kind: 'error', status: 404, code: 'LICENSE_NOT_FOUND' });

  const invalid = await client.acquire('m1', { deviceId: 'not an id!', titleId: 'film-1' });
  t.match(invalid, { ok: false, fallback: false, kind: 'error', status: 400, code: 'VALIDATION_FAILED', field: 'body.deviceId' });

  const unknownPlan = await client.check('m1', { deviceId: 'phone', titleId: 'film-1', plan: 'platinum' });
  t.match(unknownPlan, { ok: false, kind: 'error', status: 400, code: 'UNKNOWN_PLAN' });

  t.match(client.stats(), { fallbacks: { total: 0 }, retries: 0 }, 'no fallback, no retry for a 4xx');
  t.equal(registry.getSingleMetric('license_client_fallbacks_total') !== undefined, true, 'the counter is registered');
});

/**
 * A proxy in front of the live service that lets the service act on the first request, then
 * hangs up on the client without the answer: the case idempotent retries are for.
 */
async function droppingProxy(t: Test, target: string) {
  return stubServer(t, async (req, res) => {
    const forwarded = await request(`${target}${req.url}`, {
      method: req.method as 'GET' | 'POST',
      headers: { 'content-type': 'application/json' },
      ...(req.body.length > 0 ? { body: req.body } : {}),
    });
    const body = await forwarded.body.text();
    if (req.hit === 1) {
      res.socket?.destroy(); // the service did the work; the answer is lost on the way back
      return;
    }
    json(res, forwarded.statusCode, JSON.parse(body), forwarded.headers['idempotent-replayed'] === 'true' ? { 'idempotent-replayed': 'true' } : {});
  });
}

t.test('a lost answer to an acquire with a requestId: retried, and the service replays the first answer', async (t) => {
  const { baseUrl } = await liveService(t);
  const proxy = await droppingProxy(t, baseUrl);
  const { client } = edgeClient(t, { baseUrl: proxy.baseUrl, retry: { backoffMs: 5 } });

  const acquired = await client.acquire('m1', { deviceId: 'phone', titleId: 'film-1', requestId: 'req-1' });
  t.equal(proxy.hits(), 2, 'the first attempt lost its answer, the retry got one');
  if (!acquired.ok || acquired.fallback) throw new Error(`acquire answered ${JSON.stringify(acquired)}`);
  t.equal(acquired.replayed, true, 'the service recognised the requestId and answered the first result again');
  t.equal(client.stats().retries, 1);
  t.equal(client.stats().fallbacks.total, 0);

  const direct = edgeClient(t, { baseUrl }).client;
  const listed = await direct.listLicenses('m1');
  if (!listed.ok) throw new Error('list failed');
  t.same(
    listed.licenses.map((l) => l.licenseId),
    [acquired.licenseId],
    'one license only, the one the client got: the retry did not acquire twice',
  );
});

t.test('a lost answer to an acquire without a requestId: not retried, the fallback answers', async (t) => {
  const { baseUrl } = await liveService(t);
  const proxy = await droppingProxy(t, baseUrl);
  const { client } = edgeClient(t, { baseUrl: proxy.baseUrl, retry: { backoffMs: 5 } });

  const acquired = await client.acquire('m1', { deviceId: 'phone', titleId: 'film-1' });
  t.equal(proxy.hits(), 1, 'no second attempt: it could acquire a second license');
  t.match(acquired, { ok: true, fallback: true, cause: 'connection', expiresAt: null });
  t.equal(client.stats().retries, 0);
  t.equal(client.stats().fallbacks.connection, 1);
  const listed = await edgeClient(t, { baseUrl }).client.listLicenses('m1');
  t.match(listed, { ok: true, fallback: false, licenses: [{ deviceId: 'phone' }] }, 'the service did acquire: a blind retry would have taken a second license');
  if (listed.ok) t.equal(listed.licenses.length, 1);
});

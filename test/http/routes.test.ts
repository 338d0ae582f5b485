/** Every edge route's happy path and the exact shape of its answer. */
import t from 'tap';
import { DAY, T0 } from '../support/fixtures.ts';
import {
  acquire,
  acquireOk,
  advance,
  call,
  check,
  deactivate,
  expectError,
  expectRefusal,
  get,
  head,
  iso,
  licenses,
  playback,
  post,
  release,
  releaseOk,
  renew,
  server,
  UUID,
} from './http-support.ts';

t.test('POST /v1/members/:memberId/licenses acquires: 201 with the exact answer', async (t) => {
  const s = await server(t);
  const res = await acquire(s, 'm1', 'phone', 'film-1');
  t.equal(res.status, 201);
  t.match(res.headers['content-type'], /^application\/json/);
  t.same(Object.keys(res.body).sort(), ['deviceId', 'expiresAt', 'licenseId', 'memberId', 'rulesVersion', 'studioId', 'titleId']);
  t.match(res.body['licenseId'], UUID, 'licenseId is a UUID');
  t.same(
    { ...res.body, licenseId: 'x' },
    {
      licenseId: 'x',
      memberId: 'm1',
      deviceId: 'phone',
      titleId: 'film-1',
      studioId: null, // not in the catalog: no studio
      expiresAt: iso(T0 + 30 * DAY), // default window, 30 days
      rulesVersion: 'test-1',
    },
  );
  t.same(await head(s, 'm1'), { generation: 0, position: 3 }, 'acquired, counted, device registered: three events');

  // A catalogued title gets its studio and its studio's window (strict: 7 days).
  await advance(t, s, 1000);
  const strict = await acquire(s, 'm1', 'phone', 'strict-a');
  t.equal(strict.status, 201);
  t.equal(strict.body['studioId'], 'strict');
  t.equal(strict.body['expiresAt'], iso(T0 + 1000 + 7 * DAY));
  t.not(strict.body['licenseId'], res.body['licenseId'], 'every license has its own id');
});

t.test('POST .../renew: 200 {licenseId, expiresAt, renewals}', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await advance(t, s, DAY);
  const first = await renew(s, 'm1', licenseId);
  t.equal(first.status, 200);
  // Renewal extends the current expiry by one window.
  t.same(first.body, { licenseId, expiresAt: iso(T0 + 60 * DAY), renewals: 1 });
  const second = await renew(s, 'm1', licenseId, {});
  t.same(second.body, { licenseId, expiresAt: iso(T0 + 90 * DAY), renewals: 2 });
  const [listed] = await licenses(s, 'm1');
  t.match(listed, { licenseId, expiresAt: iso(T0 + 90 * DAY), renewals: 2 }, 'the list shows the renewed license');
});

t.test('POST .../release: 200 {licenseId, releasedAt}, idempotent without a second event', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await advance(t, s, 5 * DAY);
  const before = await head(s, 'm1');
  const first = await release(s, 'm1', licenseId);
  t.equal(first.status, 200);
  t.same(first.body, { licenseId, releasedAt: iso(T0 + 5 * DAY) });
  const afterFirst = await head(s, 'm1');
  t.equal(afterFirst.position, before.position + 1, 'the release wrote one event');

  await advance(t, s, DAY);
  const second = await release(s, 'm1', licenseId);
  t.equal(second.status, 200, 'a second release is not an error');
  t.same(second.body, { licenseId, releasedAt: iso(T0 + 5 * DAY) }, 'same releasedAt as the first release');
  t.same(await head(s, 'm1'), afterFirst, 'the second release wrote no event');
  t.same(await licenses(s, 'm1'), [], 'the released license is no longer listed');
});

t.test('POST .../playback: 202 {licenseId, recorded}', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const res = await playback(s, 'm1', licenseId, {
    events: [
      { sessionId: 's1', startedAt: '2025-12-31T20:00:00Z', durationMs: 3_600_000 },
      { sessionId: 's2', startedAt: '2025-12-31T22:00:00.500+01:00', durationMs: 0 },
    ],
  });
  t.equal(res.status, 202);
  t.same(res.body, { licenseId, recorded: 2 });
  t.equal((await head(s, 'm1')).position, before.position + 1, 'one PlaybackRecorded event');
  // Playback with the license's own device is fine too.
  const onDevice = await playback(s, 'm1', licenseId, { deviceId: 'phone', events: [{ sessionId: 's3', startedAt: '2026-01-01T00:00:00Z', durationMs: 5 }] });
  t.equal(onDevice.status, 202);
  t.same(onDevice.body, { licenseId, recorded: 1 });
});

t.test('POST .../devices/:deviceId/deactivate: 200 {deviceId, releasedLicenseIds}', async (t) => {
  const s = await server(t);
  const a = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const b = await acquireOk(t, s, 'm1', 'phone', 'film-2');
  const released = await acquireOk(t, s, 'm1', 'phone', 'film-3');
  await releaseOk(t, s, 'm1', released);
  const other = await acquireOk(t, s, 'm1', 'tablet', 'film-4');
  const res = await deactivate(s, 'm1', 'phone');
  t.equal(res.status, 200);
  t.same(Object.keys(res.body).sort(), ['deviceId', 'releasedLicenseIds']);
  t.equal(res.body['deviceId'], 'phone');
  t.same([...(res.body['releasedLicenseIds'] as string[])].sort(), [a, b].sort(), 'the active licenses of the device, not the released one');
  t.same(
    (await licenses(s, 'm1')).map((l) => l['licenseId']),
    [other],
    'only the other device keeps its license',
  );
});

t.test('GET /v1/members/:memberId/check answers what an acquire would, writing nothing', async (t) => {
  t.test('allowed', async (t) => {
    const s = await server(t);
    const res = await check(s, 'm1', { deviceId: 'phone', titleId: 'film-1' });
    t.equal(res.status, 200);
    t.same(res.body, { allowed: true, rulesVersion: 'test-1' });
    t.same(await head(s, 'm1'), { generation: 0, position: 0 }, 'a check writes nothing');
    t.equal((await acquire(s, 'm1', 'phone', 'film-1')).status, 201, 'and the acquire succeeds');
  });

  t.test('refused with the same reason and details as the acquire', async (t) => {
    const s = await server(t);
    // Every acquire refusal in turn: the check and the acquire must agree exactly.
    await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    await acquireOk(t, s, 'm1', 'tablet', 'strict-b');
    const cases: { label: string; deviceId: string; titleId: string; plan?: string; reason: string }[] = [
      { label: 'third device on standard', deviceId: 'laptop', titleId: 'film-1', reason: 'DEVICE_LIMIT' },
      { label: 'new device on basic', deviceId: 'laptop', titleId: 'film-1', plan: 'basic', reason: 'DEVICE_LIMIT' },
      { label: 'studio at its limit', deviceId: 'phone', titleId: 'strict-c', reason: 'STUDIO_LIMIT' },
    ];
    for (const c of cases) {
      const before = await head(s, 'm1');
      const query: Record<string, string> = { deviceId: c.deviceId, titleId: c.titleId };
      if (c.plan) query['plan'] = c.plan;
      const answer = await check(s, 'm1', query);
      t.equal(answer.status, 200, c.label);
      t.same(Object.keys(answer.body).sort(), ['allowed', 'details', 'message', 'reason', 'rulesVersion'], `${c.label}: check keys`);
      t.equal(answer.body['allowed'], false, c.label);
      t.equal(answer.body['reason'], c.reason, c.label);
      t.equal(answer.body['rulesVersion'], 'test-1', c.label);
      t.same(await head(s, 'm1'), before, `${c.label}: the check wrote nothing`);
      const acquired = await acquire(s, 'm1', c.deviceId, c.titleId, c.plan ? { plan: c.plan } : {});
      expectRefusal(t, acquired, 'LICENSE_REFUSED', c.reason, c.label);
      t.same(acquired.body['details'], answer.body['details'], `${c.label}: same details`);
      t.equal(acquired.body['message'], answer.body['message'], `${c.label}: same message`);
    }
    // Premium on the same state: allowed, and the acquire agrees.
    const premium = await check(s, 'm1', { deviceId: 'laptop', titleId: 'film-1', plan: 'premium' });
    t.same(premium.body, { allowed: true, rulesVersion: 'test-1' });
    t.equal((await acquire(s, 'm1', 'laptop', 'film-1', { plan: 'premium' })).status, 201);
  });

  t.test('device download limit and yearly title limit agree too', async (t) => {
    const s = await server(t);
    for (let i = 1; i <= 5; i++) await acquireOk(t, s, 'm1', 'phone', `film-${i}`);
    const full = await check(s, 'm1', { deviceId: 'phone', titleId: 'film-6' });
    t.equal(full.body['reason'], 'DEVICE_DOWNLOAD_LIMIT');
    const refused = await acquire(s, 'm1', 'phone', 'film-6');
    expectRefusal(t, refused, 'LICENSE_REFUSED', 'DEVICE_DOWNLOAD_LIMIT');
    t.same(refused.body['details'], full.body['details']);

    const s2 = await server(t);
    for (let i = 0; i < 3; i++) {
      await releaseOk(t, s2, 'm2', await acquireOk(t, s2, 'm2', 'phone', 'film-1'));
      await advance(t, s2, DAY);
    }
    const before = await head(s2, 'm2');
    const yearly = await check(s2, 'm2', { deviceId: 'phone', titleId: 'film-1' });
    t.equal(yearly.body['reason'], 'YEARLY_TITLE_LIMIT');
    t.same(await head(s2, 'm2'), before, 'the check wrote nothing');
    const refusedYearly = await acquire(s2, 'm2', 'phone', 'film-1');
    expectRefusal(t, refusedYearly, 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT');
    t.same(refusedYearly.body['details'], yearly.body['details']);
  });
});

t.test('GET /v1/members/:memberId/licenses lists the active licenses only', async (t) => {
  const s = await server(t);
  t.same(await licenses(s, 'nobody'), [], 'a member never seen has none');
  const a = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await advance(t, s, 1000);
  const b = await acquireOk(t, s, 'm1', 'tablet', 'strict-a');
  const gone = await acquireOk(t, s, 'm1', 'phone', 'film-2');
  await releaseOk(t, s, 'm1', gone);
  await acquireOk(t, s, 'm2', 'phone', 'film-1'); // another member's license is not listed

  const res = await get(s, '/v1/members/m1/licenses');
  t.equal(res.status, 200);
  t.same(Object.keys(res.body), ['licenses']);
  t.same(res.body['licenses'], [
    { licenseId: a, deviceId: 'phone', titleId: 'film-1', studioId: null, acquiredAt: iso(T0), expiresAt: iso(T0 + 30 * DAY), renewals: 0, expired: false },
    {
      licenseId: b,
      deviceId: 'tablet',
      titleId: 'strict-a',
      studioId: 'strict',
      acquiredAt: iso(T0 + 1000),
      expiresAt: iso(T0 + 1000 + 7 * DAY),
      renewals: 0,
      expired: false,
    },
  ]);

  // Past the strict license's 7-day window it is expired but, never released, still listed.
  await advance(t, s, 8 * DAY);
  const later = await licenses(s, 'm1');
  t.same(
    later.map((l) => [l['licenseId'], l['expired']]),
    [
      [a, false],
      [b, true],
    ],
  );
});

t.test('an expired but unreleased license still holds its slots', async (t) => {
  t.test('device limit', async (t) => {
    const s = await server(t);
    const old = await acquireOk(t, s, 'm1', 'phone', 'film-1');
    await acquireOk(t, s, 'm1', 'tablet', 'film-2');
    await advance(t, s, 31 * DAY);
    const listed = await licenses(s, 'm1');
    t.same(
      listed.map((l) => l['expired']),
      [true, true],
      'both expired',
    );
    const refused = await acquire(s, 'm1', 'laptop', 'film-3');
    const details = expectRefusal(t, refused, 'LICENSE_REFUSED', 'DEVICE_LIMIT');
    t.same(details['devicesHoldingDownloads'], [
      { deviceId: 'phone', activeLicenses: 1 },
      { deviceId: 'tablet', activeLicenses: 1 },
    ]);
    await releaseOk(t, s, 'm1', old);
    t.equal((await acquire(s, 'm1', 'laptop', 'film-3')).status, 201, 'once released, the slot is free');
  });

  t.test('device download limit', async (t) => {
    const s = await server(t);
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await acquireOk(t, s, 'm1', 'phone', `film-${i}`));
    await advance(t, s, 40 * DAY);
    t.ok(
      (await licenses(s, 'm1')).every((l) => l['expired'] === true),
      'all five expired',
    );
    const refused = await acquire(s, 'm1', 'phone', 'film-6');
    const details = expectRefusal(t, refused, 'LICENSE_REFUSED', 'DEVICE_DOWNLOAD_LIMIT');
    t.same([...(details['activeLicenseIds'] as string[])].sort(), [...ids].sort());
    await releaseOk(t, s, 'm1', ids[0] ?? '');
    t.equal((await acquire(s, 'm1', 'phone', 'film-6')).status, 201, 'once one is released, the device has room');
  });
});

t.test('GET /healthz and /readyz', async (t) => {
  const s = await server(t);
  const health = await get(s, '/healthz');
  t.equal(health.status, 200);
  t.same(health.body, { status: 'ok' });
  const ready = await get(s, '/readyz');
  t.equal(ready.status, 200);
  t.same(ready.body, { status: 'ready', store: s.store.kind, rulesVersion: 'test-1', workers: 0 });
});

t.test('POST /v1/admin/clock moves the manual clock', async (t) => {
  const s = await server(t);
  const advanced = await post(s, '/v1/admin/clock', { advanceMs: 2 * DAY });
  t.equal(advanced.status, 200);
  t.same(advanced.body, { now: iso(T0 + 2 * DAY) });
  t.equal(s.clock.now(), T0 + 2 * DAY);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const [listed] = await licenses(s, 'm1');
  t.equal(listed?.['acquiredAt'], iso(T0 + 2 * DAY), 'commands are stamped with the moved clock');

  const set = await post(s, '/v1/admin/clock', { now: '2026-03-01T12:00:00.000Z' });
  t.equal(set.status, 200);
  t.same(set.body, { now: '2026-03-01T12:00:00.000Z' });
  const released = await release(s, 'm1', licenseId);
  t.equal(released.body['releasedAt'], '2026-03-01T12:00:00.000Z');

  expectError(t, await post(s, '/v1/admin/clock', {}), 400, 'VALIDATION_FAILED', 'no field');
  expectError(t, await post(s, '/v1/admin/clock', { advanceMs: 1, now: '2026-03-01T12:00:00Z' }), 400, 'VALIDATION_FAILED', 'both fields');
  expectError(t, await post(s, '/v1/admin/clock', { advanceMs: -1 }), 400, 'VALIDATION_FAILED', 'backwards');
  expectError(t, await post(s, '/v1/admin/clock', { now: 'tomorrow' }), 400, 'VALIDATION_FAILED', 'not a date-time');
  t.equal(s.clock.now(), Date.parse('2026-03-01T12:00:00.000Z'), 'refused moves leave the clock alone');
});

t.test('POST /v1/admin/clock does not exist with the system clock', async (t) => {
  const s = await server(t, { service: { clock: 'system' } });
  for (const payload of [{ advanceMs: 1000 }, { now: '2030-01-01T00:00:00Z' }]) {
    const res = await post(s, '/v1/admin/clock', payload);
    expectError(t, res, 404, 'ROUTE_NOT_FOUND');
  }
  const before = Date.now();
  t.ok(Math.abs(s.clock.now() - before) < 60_000, 'the system clock is real time');
  // The rest of the API works on the system clock.
  const res = await call(s, { method: 'POST', url: '/v1/members/m1/licenses', payload: { deviceId: 'phone', titleId: 'film-1' } });
  t.equal(res.status, 201);
});

t.test('an unknown route is 404 ROUTE_NOT_FOUND; a method the path does not have is 405 METHOD_NOT_ALLOWED', async (t) => {
  const s = await server(t);
  const wrongMethod = await get(s, '/v1/members/m1/licenses/x/renew');
  expectError(t, wrongMethod, 405, 'METHOD_NOT_ALLOWED', 'GET on a POST route');
  t.equal(wrongMethod.headers['allow'], 'POST', 'Allow names the method the path has');
  expectError(t, await get(s, '/v2/anything'), 404, 'ROUTE_NOT_FOUND', 'no such path');
  expectError(t, await post(s, '/v1/members/m1/licenses/x', {}), 404, 'ROUTE_NOT_FOUND', 'POST on a license itself');
});

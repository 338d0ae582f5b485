/**
 * Every refusal over HTTP: 409 {code, reason, message, details} for the rules and the license
 * lifecycle, 404 for unknown licenses and devices, 422 for a reused request id, 400 for an
 * unknown plan. A refusal writes nothing.
 */
import t from 'tap';
import { DAY, T0 } from '../support/fixtures.ts';
import {
  acquire,
  acquireOk,
  advance,
  check,
  deactivate,
  expectError,
  expectRefusal,
  head,
  iso,
  licenses,
  playback,
  release,
  releaseOk,
  renew,
  server,
  type Answer,
} from './http-support.ts';

const ONE_SESSION = { events: [{ sessionId: 's1', startedAt: '2026-01-01T00:00:00Z', durationMs: 1000 }] };

t.test('acquire refusals: 409 LICENSE_REFUSED', async (t) => {
  t.test('DEVICE_LIMIT', async (t) => {
    const s = await server(t);
    await acquireOk(t, s, 'm1', 'phone', 'film-1');
    await acquireOk(t, s, 'm1', 'tablet', 'film-2');
    await acquireOk(t, s, 'm1', 'tablet', 'film-3');
    const before = await head(s, 'm1');
    const res = await acquire(s, 'm1', 'laptop', 'film-4');
    const details = expectRefusal(t, res, 'LICENSE_REFUSED', 'DEVICE_LIMIT');
    t.same(details, {
      plan: 'standard',
      limit: 2,
      devicesHoldingDownloads: [
        { deviceId: 'phone', activeLicenses: 1 },
        { deviceId: 'tablet', activeLicenses: 2 },
      ],
    });
    t.match(res.body['message'], /phone/, 'the message names the devices');
    t.equal(res.body['rulesVersion'], 'test-1');
    t.same(await head(s, 'm1'), before, 'nothing written');
    t.equal((await licenses(s, 'm1')).length, 3);
  });

  t.test('DEVICE_DOWNLOAD_LIMIT', async (t) => {
    const s = await server(t);
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await acquireOk(t, s, 'm1', 'phone', `film-${i}`));
    const before = await head(s, 'm1');
    const res = await acquire(s, 'm1', 'phone', 'film-6');
    const details = expectRefusal(t, res, 'LICENSE_REFUSED', 'DEVICE_DOWNLOAD_LIMIT');
    t.same(details, { deviceId: 'phone', limit: 5, activeLicenseIds: ids });
    t.same(await head(s, 'm1'), before, 'nothing written');
    // Another device still has room.
    t.equal((await acquire(s, 'm1', 'tablet', 'film-6')).status, 201);
  });

  t.test('STUDIO_LIMIT', async (t) => {
    const s = await server(t);
    const a = await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    const b = await acquireOk(t, s, 'm1', 'tablet', 'strict-b');
    const before = await head(s, 'm1');
    const res = await acquire(s, 'm1', 'phone', 'strict-c');
    const details = expectRefusal(t, res, 'LICENSE_REFUSED', 'STUDIO_LIMIT');
    t.same(details, {
      studioId: 'strict',
      limit: 2,
      activeLicenses: [
        { licenseId: a, titleId: 'strict-a', deviceId: 'phone' },
        { licenseId: b, titleId: 'strict-b', deviceId: 'tablet' },
      ],
    });
    t.same(await head(s, 'm1'), before, 'nothing written');
    // Titles of other studios are not held back.
    t.equal((await acquire(s, 'm1', 'phone', 'open-a')).status, 201);
  });

  t.test('YEARLY_TITLE_LIMIT', async (t) => {
    const s = await server(t);
    // strict titles: 2 a year.
    const first = await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    await releaseOk(t, s, 'm1', first);
    await advance(t, s, DAY);
    const second = await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    await releaseOk(t, s, 'm1', second);
    const before = await head(s, 'm1');
    const res = await acquire(s, 'm1', 'phone', 'strict-a');
    const details = expectRefusal(t, res, 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT');
    t.same(details, {
      titleId: 'strict-a',
      limit: 2,
      countingDownloads: [
        { at: iso(T0), licenseId: first, via: 'acquire' },
        { at: iso(T0 + DAY), licenseId: second, via: 'acquire' },
      ],
      nextSlotAt: iso(T0 + 365 * DAY),
    });
    t.same(await head(s, 'm1'), before, 'nothing written');
  });
});

t.test('renewal refusals: 409 RENEWAL_REFUSED', async (t) => {
  t.test('LICENSE_RELEASED', async (t) => {
    const s = await server(t);
    const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
    await advance(t, s, DAY);
    await releaseOk(t, s, 'm1', licenseId);
    const before = await head(s, 'm1');
    const res = await renew(s, 'm1', licenseId);
    const details = expectRefusal(t, res, 'RENEWAL_REFUSED', 'LICENSE_RELEASED');
    t.same(details, { licenseId, releasedAt: iso(T0 + DAY), cause: 'member' });
    t.same(await head(s, 'm1'), before, 'nothing written');
  });

  t.test('RENEWAL_LIMIT', async (t) => {
    const s = await server(t);
    // strict: one renewal allowed.
    const licenseId = await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    const first = await renew(s, 'm1', licenseId);
    t.equal(first.status, 200);
    t.equal(first.body['renewals'], 1);
    const before = await head(s, 'm1');
    const res = await renew(s, 'm1', licenseId);
    const details = expectRefusal(t, res, 'RENEWAL_REFUSED', 'RENEWAL_LIMIT');
    t.same(details, { licenseId, renewals: 1, limit: 1 });
    t.same(await head(s, 'm1'), before, 'nothing written');
  });

  t.test('YEARLY_TITLE_LIMIT (renewals of strict titles count)', async (t) => {
    const s = await server(t);
    const first = await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    await releaseOk(t, s, 'm1', first);
    const second = await acquireOk(t, s, 'm1', 'phone', 'strict-a');
    const before = await head(s, 'm1');
    const res = await renew(s, 'm1', second);
    const details = expectRefusal(t, res, 'RENEWAL_REFUSED', 'YEARLY_TITLE_LIMIT');
    t.match(details, { titleId: 'strict-a', limit: 2, nextSlotAt: iso(T0 + 365 * DAY) });
    t.same(
      (details['countingDownloads'] as { licenseId: string }[]).map((d) => d.licenseId),
      [first, second],
    );
    t.same(await head(s, 'm1'), before, 'nothing written');
  });
});

t.test('playback refusal: 409 PLAYBACK_REFUSED LICENSE_RELEASED', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await releaseOk(t, s, 'm1', licenseId);
  const before = await head(s, 'm1');
  const res = await playback(s, 'm1', licenseId, ONE_SESSION);
  const details = expectRefusal(t, res, 'PLAYBACK_REFUSED', 'LICENSE_RELEASED');
  t.match(details, { licenseId, cause: 'member' });
  t.same(await head(s, 'm1'), before, 'nothing written');
});

t.test('deactivation refusal: 409 DEACTIVATION_REFUSED DEACTIVATION_LIMIT', async (t) => {
  const s = await server(t);
  // Test rules: 2 deactivations a year.
  await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await acquireOk(t, s, 'm1', 'tablet', 'film-2');
  t.equal((await deactivate(s, 'm1', 'phone')).status, 200);
  await advance(t, s, DAY);
  t.equal((await deactivate(s, 'm1', 'tablet')).status, 200);
  const kept = await acquireOk(t, s, 'm1', 'laptop', 'film-3');
  const before = await head(s, 'm1');
  const res = await deactivate(s, 'm1', 'laptop');
  const details = expectRefusal(t, res, 'DEACTIVATION_REFUSED', 'DEACTIVATION_LIMIT');
  t.same(details, { deviceId: 'laptop', limit: 2, deactivations: [iso(T0), iso(T0 + DAY)], nextSlotAt: iso(T0 + 365 * DAY) });
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.same(
    (await licenses(s, 'm1')).map((l) => l['licenseId']),
    [kept],
    'the refused deactivation released nothing',
  );
});

t.test('WRONG_DEVICE when the body names a device that does not hold the license', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await acquireOk(t, s, 'm1', 'tablet', 'film-2');
  const before = await head(s, 'm1');
  const cases: [string, string, Answer][] = [
    ['renew', 'RENEWAL_REFUSED', await renew(s, 'm1', licenseId, { deviceId: 'tablet' })],
    ['release', 'RELEASE_REFUSED', await release(s, 'm1', licenseId, { deviceId: 'tablet' })],
    ['playback', 'PLAYBACK_REFUSED', await playback(s, 'm1', licenseId, { ...ONE_SESSION, deviceId: 'tablet' })],
  ];
  for (const [label, code, res] of cases) {
    const details = expectRefusal(t, res, code, 'WRONG_DEVICE', label);
    t.same(details, { licenseId, deviceId: 'tablet' }, `${label}: details`);
  }
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.match(
    (await licenses(s, 'm1')).find((l) => l['licenseId'] === licenseId),
    { licenseId, renewals: 0, expiresAt: iso(T0 + 30 * DAY) },
    'the license is untouched',
  );
  // The right device is accepted.
  t.equal((await renew(s, 'm1', licenseId, { deviceId: 'phone' })).status, 200);
  t.equal((await release(s, 'm1', licenseId, { deviceId: 'phone' })).status, 200);
});

t.test('404 LICENSE_NOT_FOUND: an unknown license, or another member’s', async (t) => {
  const s = await server(t);
  const theirs = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const theirHead = await head(s, 'm1');
  for (const [memberId, licenseId, label] of [
    ['m2', '00000000-0000-4000-8000-000000000000', 'unknown license'],
    ['m1', '00000000-0000-4000-8000-000000000000', 'unknown license of a known member'],
    ['m2', theirs, "another member's license"],
  ] as const) {
    for (const [verb, res] of [
      ['renew', await renew(s, memberId, licenseId)],
      ['release', await release(s, memberId, licenseId)],
      ['playback', await playback(s, memberId, licenseId, ONE_SESSION)],
    ] as const) {
      expectError(t, res, 404, 'LICENSE_NOT_FOUND', `${label}: ${verb}`);
      t.same(res.body['details'], { licenseId }, `${label}: ${verb}: details name the license`);
    }
  }
  t.same(await head(s, 'm2'), { generation: 0, position: 0 }, 'nothing written for m2');
  t.same(await head(s, 'm1'), theirHead, 'nothing written for m1');
  t.match(await licenses(s, 'm1'), [{ licenseId: theirs, renewals: 0 }], "m1's license is untouched");
});

t.test('404 DEVICE_NOT_FOUND: deactivating a device that never held a download', async (t) => {
  const s = await server(t);
  await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const res = await deactivate(s, 'm1', 'toaster');
  expectError(t, res, 404, 'DEVICE_NOT_FOUND');
  t.same(res.body['details'], { deviceId: 'toaster' });
  t.same(await head(s, 'm1'), before, 'nothing written');
  // The phone of m1 is not a device of m2.
  expectError(t, await deactivate(s, 'm2', 'phone'), 404, 'DEVICE_NOT_FOUND', 'another member’s device');
  // A refused deactivation does not count toward the limit: two real ones still work.
  t.equal((await deactivate(s, 'm1', 'phone')).status, 200);
});

t.test('422 REQUEST_ID_REUSED: a request id used for a different command', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1', { requestId: 'req-1' });
  const before = await head(s, 'm1');
  const cases: [string, Answer][] = [
    ['renew', await renew(s, 'm1', licenseId, { requestId: 'req-1' })],
    ['release', await release(s, 'm1', licenseId, { requestId: 'req-1' })],
    ['acquire of another title', await acquire(s, 'm1', 'phone', 'film-2', { requestId: 'req-1' })],
    ['acquire on another device', await acquire(s, 'm1', 'tablet', 'film-1', { requestId: 'req-1' })],
    ['deactivate', await deactivate(s, 'm1', 'phone', { requestId: 'req-1' })],
  ];
  for (const [label, res] of cases) {
    expectError(t, res, 422, 'REQUEST_ID_REUSED', label);
    t.equal(res.body['field'], 'body.requestId', `${label}: names the field`);
    t.match(res.body['message'], /req-1/, `${label}: names the request id`);
  }
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.match(await licenses(s, 'm1'), [{ licenseId, renewals: 0 }], 'the license is neither renewed nor released');
});

t.test('400 UNKNOWN_PLAN on acquire and check', async (t) => {
  const s = await server(t);
  const acquired = await acquire(s, 'm1', 'phone', 'film-1', { plan: 'gold' });
  expectError(t, acquired, 400, 'UNKNOWN_PLAN', 'acquire');
  t.match(acquired.body['message'], /gold/, 'the message names the plan');
  const checked = await check(s, 'm1', { deviceId: 'phone', titleId: 'film-1', plan: 'gold' });
  expectError(t, checked, 400, 'UNKNOWN_PLAN', 'check');
  t.match(checked.body['message'], /gold/);
  // Names that exist on every JS object are not plans either.
  for (const plan of ['toString', '__proto__', 'constructor']) {
    expectError(t, await acquire(s, 'm1', 'phone', 'film-1', { plan }), 400, 'UNKNOWN_PLAN', plan);
  }
  t.same(await head(s, 'm1'), { generation: 0, position: 0 }, 'nothing written');
});

t.test('requestId makes a command idempotent', async (t) => {
  t.test('acquire', async (t) => {
    const s = await server(t);
    const first = await acquire(s, 'm1', 'phone', 'film-1', { requestId: 'acq-1' });
    t.equal(first.status, 201);
    t.equal(first.headers['idempotent-replayed'], undefined, 'the first answer is not a replay');
    const afterFirst = await head(s, 'm1');
    await advance(t, s, 23 * 3_600_000); // a retry within 24 hours
    const second = await acquire(s, 'm1', 'phone', 'film-1', { requestId: 'acq-1' });
    t.equal(second.status, 201);
    t.same(second.body, first.body, 'the same answer, same license id');
    t.equal(second.headers['idempotent-replayed'], 'true');
    t.same(await head(s, 'm1'), afterFirst, 'one set of events only');
    t.equal((await licenses(s, 'm1')).length, 1, 'one license');
  });

  t.test('renew', async (t) => {
    const s = await server(t);
    const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
    const first = await renew(s, 'm1', licenseId, { requestId: 'ren-1' });
    t.same(first.body, { licenseId, expiresAt: iso(T0 + 60 * DAY), renewals: 1 });
    const afterFirst = await head(s, 'm1');
    await advance(t, s, 1000);
    const second = await renew(s, 'm1', licenseId, { requestId: 'ren-1' });
    t.equal(second.status, 200);
    t.same(second.body, first.body, 'not renewed twice');
    t.equal(second.headers['idempotent-replayed'], 'true');
    t.same(await head(s, 'm1'), afterFirst, 'one event only');
    const third = await renew(s, 'm1', licenseId, { requestId: 'ren-2' });
    t.equal(third.body['renewals'], 2, 'a new request id renews again');
    t.equal(third.headers['idempotent-replayed'], undefined);
  });

  t.test('playback, release and deactivate', async (t) => {
    const s = await server(t);
    const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
    for (const [label, send] of [
      ['playback', () => playback(s, 'm1', licenseId, { ...ONE_SESSION, requestId: 'pb-1' })],
      ['release', () => release(s, 'm1', licenseId, { requestId: 'rel-1' })],
      ['deactivate', () => deactivate(s, 'm1', 'phone', { requestId: 'dea-1' })],
    ] as const) {
      const first = await send();
      t.ok(first.status >= 200 && first.status < 300, `${label}: first succeeds (${first.raw})`);
      const afterFirst = await head(s, 'm1');
      const second = await send();
      t.equal(second.status, first.status, `${label}: same status`);
      t.same(second.body, first.body, `${label}: same body`);
      t.same(await head(s, 'm1'), afterFirst, `${label}: nothing written by the repeat`);
    }
  });
});

t.test('the plan on a request applies to that request', async (t) => {
  t.test('basic refuses a second device', async (t) => {
    const s = await server(t);
    await acquireOk(t, s, 'm1', 'phone', 'film-1', { plan: 'basic' });
    const res = await acquire(s, 'm1', 'tablet', 'film-2', { plan: 'basic' });
    const details = expectRefusal(t, res, 'LICENSE_REFUSED', 'DEVICE_LIMIT');
    t.match(details, { plan: 'basic', limit: 1 });
    // The same member without a plan gets the default (standard, 2 devices).
    t.equal((await acquire(s, 'm1', 'tablet', 'film-2')).status, 201);
  });

  t.test('premium allows four devices', async (t) => {
    const s = await server(t);
    for (const device of ['d1', 'd2', 'd3', 'd4']) await acquireOk(t, s, 'm1', device, `film-${device}`, { plan: 'premium' });
    const fifth = await acquire(s, 'm1', 'd5', 'film-d5', { plan: 'premium' });
    t.match(expectRefusal(t, fifth, 'LICENSE_REFUSED', 'DEVICE_LIMIT'), { plan: 'premium', limit: 4 });
    const standard = await acquire(s, 'm1', 'd5', 'film-d5');
    t.match(expectRefusal(t, standard, 'LICENSE_REFUSED', 'DEVICE_LIMIT'), { plan: 'standard', limit: 2 }, 'the default plan next time');
    t.equal((await licenses(s, 'm1')).length, 4);
  });
});

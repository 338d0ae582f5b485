/**
 * The talk's cases, end to end over HTTP on the manual clock: the yearly title limit with the
 * dates that count and when the next slot frees; renewing a released license (the talk's
 * worst bug) is refused and writes nothing; deactivating a device releases all its licenses,
 * and deactivations are limited per member across devices in a rolling year.
 */
import t from 'tap';
import { DAY, T0 } from '../support/fixtures.ts';
import { acquire, acquireOk, advance, check, deactivate, expectError, expectRefusal, head, iso, licenses, playback, releaseOk, renew, server, setClock } from './http-support.ts';

const YEAR = 365 * DAY;

t.test('a title acquired 3 times in the last year is refused a 4th time, until the oldest ages out', async (t) => {
  const s = await server(t);
  // film-1 is not in the catalog: the default yearly limit of 3 applies. Each download is
  // released before the next so that no other limit is involved.
  const ids: string[] = [];
  const dates = [T0, T0 + 40 * DAY, T0 + 200 * DAY];
  for (const at of dates) {
    await setClock(t, s, at);
    const id = await acquireOk(t, s, 'm1', 'phone', 'film-1');
    ids.push(id);
    await releaseOk(t, s, 'm1', id);
  }
  await setClock(t, s, T0 + 300 * DAY);
  t.same(await licenses(s, 'm1'), [], 'nothing is held');
  const before = await head(s, 'm1');

  const refused = await acquire(s, 'm1', 'phone', 'film-1');
  const details = expectRefusal(t, refused, 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT');
  t.same(details, {
    titleId: 'film-1',
    limit: 3,
    countingDownloads: dates.map((at, i) => ({ at: iso(at), licenseId: ids[i], via: 'acquire' })),
    nextSlotAt: iso(T0 + YEAR),
  });
  const message = String(refused.body['message']);
  t.ok(message.includes(iso(T0 + YEAR)), `the message says when the next download is possible: ${message}`);
  t.same(await head(s, 'm1'), before, 'the refusal wrote nothing');

  // Another device or another title is no way around it, and other titles are unaffected.
  expectRefusal(t, await acquire(s, 'm1', 'tablet', 'film-1'), 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT', 'other device');
  expectRefusal(t, await acquire(s, 'm1', 'phone', 'film-1', { plan: 'premium' }), 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT', 'premium plan');
  t.equal((await check(s, 'm2', { deviceId: 'phone', titleId: 'film-1' })).body['allowed'], true, 'another member is not affected');

  // One millisecond before the oldest download is a year old: still refused.
  await setClock(t, s, T0 + YEAR - 1);
  expectRefusal(t, await acquire(s, 'm1', 'phone', 'film-1'), 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT', 'just before nextSlotAt');
  // At nextSlotAt the oldest no longer counts.
  await setClock(t, s, T0 + YEAR);
  t.same((await check(s, 'm1', { deviceId: 'phone', titleId: 'film-1' })).body, { allowed: true, rulesVersion: 'test-1' });
  const fourth = await acquire(s, 'm1', 'phone', 'film-1');
  t.equal(fourth.status, 201, `the 4th acquire succeeds once the oldest is a year old: ${fourth.raw}`);
  await releaseOk(t, s, 'm1', String(fourth.body['licenseId']));

  // And the window keeps rolling: now the second download is the oldest that counts.
  const again = await acquire(s, 'm1', 'phone', 'film-1');
  const next = expectRefusal(t, again, 'LICENSE_REFUSED', 'YEARLY_TITLE_LIMIT', 'the 5th');
  t.same(
    (next['countingDownloads'] as { at: string }[]).map((d) => d.at),
    [iso(dates[1] ?? 0), iso(dates[2] ?? 0), iso(T0 + YEAR)],
  );
  t.equal(next['nextSlotAt'], iso((dates[1] ?? 0) + YEAR));
});

t.test('renewing a released license is refused and writes no event', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await advance(t, s, 2 * DAY);
  t.equal((await renew(s, 'm1', licenseId)).status, 200, 'renewable while active');
  await advance(t, s, DAY);
  await releaseOk(t, s, 'm1', licenseId);
  const before = await head(s, 'm1');

  await advance(t, s, DAY);
  for (const payload of [undefined, { deviceId: 'phone' }, { requestId: 'renew-after-release' }]) {
    const res = await renew(s, 'm1', licenseId, payload);
    const details = expectRefusal(t, res, 'RENEWAL_REFUSED', 'LICENSE_RELEASED', `renew ${JSON.stringify(payload ?? null)}`);
    t.same(details, { licenseId, releasedAt: iso(T0 + 3 * DAY), cause: 'member' });
    t.same(await head(s, 'm1'), before, 'no event written');
  }
  // A retry with the same request id is still refused: a refusal is not remembered as an answer.
  expectRefusal(t, await renew(s, 'm1', licenseId, { requestId: 'renew-after-release' }), 'RENEWAL_REFUSED', 'LICENSE_RELEASED', 'retried');
  // Nor may it be played.
  expectRefusal(t, await playback(s, 'm1', licenseId, { events: [{ sessionId: 's1', startedAt: iso(T0 + DAY), durationMs: 10 }] }), 'PLAYBACK_REFUSED', 'LICENSE_RELEASED');
  t.same(await head(s, 'm1'), before, 'still no event');
  t.same(await licenses(s, 'm1'), [], 'the license stays released');
});

t.test('deactivating a device releases all its licenses, and only its licenses', async (t) => {
  const s = await server(t);
  const onPhone = [await acquireOk(t, s, 'm1', 'phone', 'film-1'), await acquireOk(t, s, 'm1', 'phone', 'strict-a'), await acquireOk(t, s, 'm1', 'phone', 'open-a')];
  const onTablet = [await acquireOk(t, s, 'm1', 'tablet', 'film-2'), await acquireOk(t, s, 'm1', 'tablet', 'strict-b')];
  await advance(t, s, DAY);
  const tabletBefore = (await licenses(s, 'm1')).filter((l) => l['deviceId'] === 'tablet');
  const before = await head(s, 'm1');

  const res = await deactivate(s, 'm1', 'phone');
  t.equal(res.status, 200);
  t.equal(res.body['deviceId'], 'phone');
  t.same([...(res.body['releasedLicenseIds'] as string[])].sort(), [...onPhone].sort(), 'every license of the phone');
  t.equal((await head(s, 'm1')).position, before.position + 1 + onPhone.length, 'one deactivation event and one release per license');

  const after = await licenses(s, 'm1');
  t.same(
    after.filter((l) => l['deviceId'] === 'phone'),
    [],
    'the phone holds nothing',
  );
  t.same(after, tabletBefore, "the tablet's licenses are untouched");
  t.same(after.map((l) => l['licenseId']).sort(), [...onTablet].sort());

  // The released licenses behave as released: no renewal, and the release says why.
  const renewed = await renew(s, 'm1', onPhone[0] ?? '');
  t.match(expectRefusal(t, renewed, 'RENEWAL_REFUSED', 'LICENSE_RELEASED'), { cause: 'device-deactivated', releasedAt: iso(T0 + DAY) });

  // Deactivating it again changes nothing and does not count.
  const headAfter = await head(s, 'm1');
  const again = await deactivate(s, 'm1', 'phone');
  t.equal(again.status, 200);
  t.same(again.body, { deviceId: 'phone', releasedLicenseIds: [] });
  t.same(await head(s, 'm1'), headAfter, 'a second deactivation writes nothing');

  // The slots are free: the studio limit (2 strict titles) and the device have room again.
  // The freed slots are usable: the phone no longer holds one of the 2 device slots, and
  // strict-a no longer counts toward the strict studio's 2 concurrent downloads.
  t.equal((await acquire(s, 'm1', 'laptop', 'film-9')).status, 201, 'a new device fits: the phone holds no device slot');
  t.equal((await acquire(s, 'm1', 'tablet', 'strict-c')).status, 201, 'a second strict title fits: strict-a was released');
});

t.test('the deactivation limit counts across all devices in a rolling year', async (t) => {
  const s = await server(t);
  // Test rules: 2 deactivations per rolling year per member.
  await acquireOk(t, s, 'm1', 'phone', 'film-1');
  t.equal((await deactivate(s, 'm1', 'phone')).status, 200, 'first: the phone');
  await setClock(t, s, T0 + 100 * DAY);
  await acquireOk(t, s, 'm1', 'tablet', 'film-2');
  t.equal((await deactivate(s, 'm1', 'tablet')).status, 200, 'second: the tablet');

  await setClock(t, s, T0 + 200 * DAY);
  const laptopLicense = await acquireOk(t, s, 'm1', 'laptop', 'film-3');
  const before = await head(s, 'm1');
  const refused = await deactivate(s, 'm1', 'laptop');
  const details = expectRefusal(t, refused, 'DEACTIVATION_REFUSED', 'DEACTIVATION_LIMIT', 'a third device');
  t.same(details, { deviceId: 'laptop', limit: 2, deactivations: [iso(T0), iso(T0 + 100 * DAY)], nextSlotAt: iso(T0 + YEAR) });
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.match(await licenses(s, 'm1'), [{ licenseId: laptopLicense }], 'the laptop keeps its license');

  // A device deactivated before, used again, counts again: the phone comes back and is refused too.
  await acquireOk(t, s, 'm1', 'phone', 'film-4');
  expectRefusal(t, await deactivate(s, 'm1', 'phone'), 'DEACTIVATION_REFUSED', 'DEACTIVATION_LIMIT', 'the phone again');
  // Another member has their own allowance.
  await acquireOk(t, s, 'm2', 'laptop', 'film-3');
  t.equal((await deactivate(s, 'm2', 'laptop')).status, 200, 'another member is not limited by m1');

  // Just before the first deactivation is a year old: still refused; at that instant: allowed.
  await setClock(t, s, T0 + YEAR - 1);
  expectRefusal(t, await deactivate(s, 'm1', 'laptop'), 'DEACTIVATION_REFUSED', 'DEACTIVATION_LIMIT', 'just before nextSlotAt');
  await setClock(t, s, T0 + YEAR);
  const allowed = await deactivate(s, 'm1', 'laptop');
  t.equal(allowed.status, 200, `allowed once the first is a year old: ${allowed.raw}`);
  t.same(allowed.body, { deviceId: 'laptop', releasedLicenseIds: [laptopLicense] });
  // Now the window holds the tablet's and the laptop's: the phone is refused until T0+100d+1y.
  const phone = expectRefusal(t, await deactivate(s, 'm1', 'phone'), 'DEACTIVATION_REFUSED', 'DEACTIVATION_LIMIT', 'the window rolled');
  t.same(phone['deactivations'], [iso(T0 + 100 * DAY), iso(T0 + YEAR)]);
  t.equal(phone['nextSlotAt'], iso(T0 + 100 * DAY + YEAR));
  expectError(t, await deactivate(s, 'm1', 'never-seen'), 404, 'DEVICE_NOT_FOUND', 'an unknown device is not a deactivation');
});

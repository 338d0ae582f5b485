/**
 * What a very old license id answers over HTTP (docs/rules.md, "What a member's state keeps"):
 * once a snapshot dropped a license released more than `service.retention.releasedLicenseDays`
 * ago, renew, release and playback of it are 404 LICENSE_NOT_FOUND, saying so; within the
 * retention they are what they were. The debug API still shows the license: it reads the events.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import { DAY, testRules } from '../support/fixtures.ts';
import { acquireOk, advance, expectError, get, post, release, releaseOk, renew, server, type Json } from './http-support.ts';

t.test('a license released longer ago than the retention answers 404 once a snapshot dropped it', async (t) => {
  const s = await server(t, { service: { retention: { releasedLicenseDays: 10 } } });
  const old = await acquireOk(t, s, 'm1', 'phone', 'open-a');
  await releaseOk(t, s, 'm1', old);
  await advance(t, s, 5 * DAY);
  const recent = await acquireOk(t, s, 'm1', 'phone', 'plain-1');
  await releaseOk(t, s, 'm1', recent);
  await advance(t, s, 6 * DAY);
  await acquireOk(t, s, 'm1', 'phone', 'plain-2');
  // Before a snapshot nothing has left: the old license is released, not unknown.
  t.match((await renew(s, 'm1', old)).body, { reason: 'LICENSE_RELEASED' }, 'before the snapshot: released');
  t.equal((await post(s, '/v1/admin/members/m1/snapshot')).status, 200);

  const renewed = await renew(s, 'm1', old);
  expectError(t, renewed, 404, 'LICENSE_NOT_FOUND', 'renew of a license released 11 days ago');
  t.match(renewed.body['message'], /no longer kept/, 'the message says why');
  t.match(renewed.body['details'], { licenseId: old, releasedLicensesKeptAfter: /^\d{4}-/ });
  expectError(t, await release(s, 'm1', old), 404, 'LICENSE_NOT_FOUND', 'release');
  // Released 6 days ago: kept, so its answers are what they were.
  t.match((await renew(s, 'm1', recent)).body, { reason: 'LICENSE_RELEASED' }, 'within the retention: released');
  t.equal((await release(s, 'm1', recent)).status, 200, 'within the retention: the first release again');

  const events = await get(s, `/v1/debug/members/m1/events?aggregateId=${old}`);
  t.same(
    (events.body['events'] as Json[]).map((e) => e['type']),
    ['LicenseAcquired', 'LicenseReleased'],
    'the debug API still shows its events',
  );
  const state = await get(s, '/v1/debug/members/m1/state');
  t.ok(
    (state.body['licenses'] as Json[]).some((l) => l['licenseId'] === old),
    'and the license in the state it rebuilds from them',
  );
});

t.test('service.retention.releasedLicenseDays: 30 by default, 0 to 3650 days', async (t) => {
  const config = (service: unknown) => parseConfig({ service, rules: testRules() }, null);
  t.equal(config({}).service.retention.releasedLicenseDays, 30);
  t.equal(config({ retention: { releasedLicenseDays: 0 } }).service.retention.releasedLicenseDays, 0);
  t.throws(() => config({ retention: { releasedLicenseDays: -1 } }), /retention\.releasedLicenseDays/);
  t.throws(() => config({ retention: { releasedLicenseDays: 3651 } }), /retention\.releasedLicenseDays/);
});

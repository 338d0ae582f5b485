/**
 * TITLE_DOWNLOAD_LIMIT (src/domain/limits/title-download-limit.ts): at most N active downloads
 * of one title per member. Given/when/then on the decider, the key in the config, and the
 * limit end to end through HTTP: an acquire refused with the reason, explain showing it.
 */
import t from 'tap';
import { ConfigError, parseRules } from '../../src/config/load.ts';
import type { AcquireLicense } from '../../src/domain/member/commands.ts';
import type { Rules } from '../../src/domain/rules.ts';
import { acquire, acquireOk, check, expectRefusal, get, releaseOk, server, type Json } from '../http/http-support.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';
import { acquisition, licenseReleased, specification } from './decider-spec.ts';

function acquire_(o: { now: number; licenseId: string; deviceId: string; titleId: string; plan?: string }): AcquireLicense {
  return { type: 'AcquireLicense', ...o };
}

/** testRules with the per-title limit in the defaults (undefined: absent) and per studio. */
function rulesWith(limit: number | null | undefined, studios: Record<string, number | null> = {}): Rules {
  const base = testRules();
  const rules = testRules({ defaults: limit === undefined ? base.defaults : { ...base.defaults, maxActiveDownloadsPerTitle: limit } });
  for (const [studio, value] of Object.entries(studios)) rules.studios[studio] = { ...rules.studios[studio], maxActiveDownloadsPerTitle: value };
  return rules;
}

/** Title `titleId` active on devices d1..dN (uncatalogued titles: no studio, yearly limit 3). */
function activeOn(titleId: string, devices: number, studioId: string | null = null) {
  return Array.from({ length: devices }, (_, i) => acquisition({ at: T0 + i, licenseId: `L${i + 1}`, deviceId: `d${i + 1}`, titleId, studioId })).flat();
}

t.test('absent from the rules: no limit', async (t) => {
  const { given } = specification(t, rulesWith(undefined));
  // open-a: a studio with no yearly limit, so three downloads count toward nothing else.
  given(activeOn('open-a', 3, 'open'))
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'open-a', plan: 'premium' }))
    .then(acquisition({ at: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
});

t.test('null in the defaults: no limit', async (t) => {
  const { given } = specification(t, rulesWith(null));
  // open-a: a studio with no yearly limit, so three downloads count toward nothing else.
  given(activeOn('open-a', 3, 'open'))
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'open-a', plan: 'premium' }))
    .then(acquisition({ at: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
});

t.test('at the limit, another download of the title is refused on any device', async (t) => {
  const { given } = specification(t, rulesWith(2));
  for (const deviceId of ['d1', 'd3']) {
    const refusal = given(activeOn('plain', 2))
      .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId, titleId: 'plain', plan: 'premium' }))
      .then('TITLE_DOWNLOAD_LIMIT');
    t.equal(refusal.message, '2 downloads of title plain are active (limit 2). Release one of them first.');
    t.same(refusal.details, {
      titleId: 'plain',
      limit: 2,
      activeLicenses: [
        { licenseId: 'L1', deviceId: 'd1' },
        { licenseId: 'L2', deviceId: 'd2' },
      ],
    });
  }
});

t.test('other titles and released downloads do not count', async (t) => {
  const { given } = specification(t, rulesWith(1));
  given(activeOn('plain', 1))
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'other' }))
    .then(acquisition({ at: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'other', registersDevice: false }));
  given([...activeOn('plain', 1), licenseReleased(T0 + 1, 'L1')])
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'plain' }))
    .then(acquisition({ at: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'plain', registersDevice: false }));
});

t.test("a studio's key overrides the default for its titles, null lifting it", async (t) => {
  const { given } = specification(t, rulesWith(null, { open: 1 }));
  given(activeOn('open-a', 1, 'open'))
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd2', titleId: 'open-a' }))
    .then('TITLE_DOWNLOAD_LIMIT');
  const lifted = specification(t, rulesWith(1, { open: null }));
  lifted
    .given(activeOn('open-a', 1, 'open'))
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'open-a' }))
    .then(acquisition({ at: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
  lifted
    .given(activeOn('plain', 1))
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'plain' }))
    .then('TITLE_DOWNLOAD_LIMIT');
});

t.test('checked after the studio limit and before the yearly limit', async (t) => {
  // strict: 2 active per studio, 2 per year; both strict-a downloads are active.
  const history = [
    ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-a', studioId: 'strict', windowDays: 7 }),
    ...acquisition({ at: T0 + 1, licenseId: 'L2', deviceId: 'd2', titleId: 'strict-a', studioId: 'strict', windowDays: 7 }),
  ];
  specification(t, rulesWith(2))
    .given(history)
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'strict-a' }))
    .then('STUDIO_LIMIT');
  const roomyStudio = rulesWith(2);
  roomyStudio.studios['strict'] = { ...roomyStudio.studios['strict'], maxActiveDownloadsPerStudio: null };
  specification(t, roomyStudio)
    .given(history)
    .when(acquire_({ now: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'strict-a' }))
    .then('TITLE_DOWNLOAD_LIMIT');
});

t.test('the config key: optional, in the defaults or a studio, a count or null', async (t) => {
  t.equal(parseRules(structuredClone(testRules())).defaults.maxActiveDownloadsPerTitle, undefined, 'absent stays absent (no limit)');
  t.equal(parseRules(structuredClone(rulesWith(3, { open: null }))).defaults.maxActiveDownloadsPerTitle, 3);
  t.throws(() => parseRules(structuredClone(rulesWith(-1))), new ConfigError('rules.defaults.maxActiveDownloadsPerTitle must be >= 0'));
  t.throws(() => parseRules(structuredClone(rulesWith(null, { open: 1.5 }))), { message: /rules\.studios\.open\.maxActiveDownloadsPerTitle/ });
});

t.test('end to end through HTTP: the acquire is refused with the reason, check and explain show it', async (t) => {
  const s = await server(t, { rules: rulesWith(1) });
  const first = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await acquireOk(t, s, 'm1', 'phone', 'film-2');
  const details = expectRefusal(t, await acquire(s, 'm1', 'tablet', 'film-1'), 'LICENSE_REFUSED', 'TITLE_DOWNLOAD_LIMIT');
  t.same(details, { titleId: 'film-1', limit: 1, activeLicenses: [{ licenseId: first, deviceId: 'phone' }] });

  const checked = await check(s, 'm1', { deviceId: 'tablet', titleId: 'film-1' });
  t.match(checked.body, { allowed: false, reason: 'TITLE_DOWNLOAD_LIMIT', details: { limit: 1 } });

  const explained = await get(s, '/v1/debug/members/m1/explain?deviceId=tablet&titleId=film-1');
  t.equal(explained.status, 200, explained.raw);
  t.match(explained.body, { allowed: false, reason: 'TITLE_DOWNLOAD_LIMIT', limits: { maxActiveDownloadsPerTitle: 1 } });
  const counting = (explained.body['counting'] as Record<string, Json[]>)['maxActiveDownloadsPerTitle'];
  t.match(counting, [{ licenseId: first, deviceId: 'phone', titleId: 'film-1', event: { type: 'LicenseAcquired', generation: 0, position: 1 } }]);

  await releaseOk(t, s, 'm1', first);
  await acquireOk(t, s, 'm1', 'tablet', 'film-1');
});

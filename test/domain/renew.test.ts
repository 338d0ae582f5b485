/** RenewLicense: given/when/then on the member decider. */
import t from 'tap';
import type { RenewLicense } from '../../src/domain/member/commands.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';
import { acquisition, deviceDeactivated, licenseReleased, licenseRenewed, nothing, requestIdReused, specification, titleDownloaded, withRequestId } from './decider-spec.ts';

const YEAR = 365 * DAY;
const iso = (at: number): string => new Date(at).toISOString();

function renew(o: { now: number; licenseId: string; deviceId?: string; requestId?: string }): RenewLicense {
  return { type: 'RenewLicense', ...o };
}

// A default-policy title (window 30 days, unlimited renewals, renewals do not count toward the yearly limit).
const plain = acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' });
// A strict-studio title (window 7 days, 1 renewal, renewals count, yearly limit 2).
const strict = acquisition({ at: T0, licenseId: 'S1', deviceId: 'd1', titleId: 'strict-a', studioId: 'strict', windowDays: 7 });

t.test('emits LicenseRenewed', async (t) => {
  t.test('extends an unexpired license by one window from its expiry', async (t) => {
    const { given } = specification(t);
    const decision = given(plain)
      .when(renew({ now: T0 + 10 * DAY, licenseId: 'L1' }))
      .then([licenseRenewed(T0 + 10 * DAY, 'L1', T0 + 60 * DAY, 1)]);
    t.same(decision.answer, { kind: 'renew', licenseId: 'L1', expiresAt: T0 + 60 * DAY, renewals: 1 });
  });

  t.test('a lapsed license renews from now', async (t) => {
    const { given } = specification(t);
    given(plain)
      .when(renew({ now: T0 + 40 * DAY, licenseId: 'L1' }))
      .then([licenseRenewed(T0 + 40 * DAY, 'L1', T0 + 70 * DAY, 1)]);
  });

  t.test('counts renewals; unlimited by default', async (t) => {
    const { given } = specification(t);
    const history: DomainEvent[] = [...plain];
    for (let i = 1; i <= 10; i++) history.push(licenseRenewed(T0 + i, 'L1', T0 + 30 * DAY * (i + 1), i));
    given(history)
      .when(renew({ now: T0 + DAY, licenseId: 'L1' }))
      .then([licenseRenewed(T0 + DAY, 'L1', T0 + 30 * DAY * 12, 11)]);
  });

  t.test('with the right device given', async (t) => {
    const { given } = specification(t);
    given(plain)
      .when(renew({ now: T0 + DAY, licenseId: 'L1', deviceId: 'd1' }))
      .then([licenseRenewed(T0 + DAY, 'L1', T0 + 60 * DAY, 1)]);
  });

  t.test('a title whose studio counts renewals also emits TitleDownloaded via renew', async (t) => {
    const { given } = specification(t);
    given(strict)
      .when(renew({ now: T0 + 3 * DAY, licenseId: 'S1' }))
      .then([licenseRenewed(T0 + 3 * DAY, 'S1', T0 + 14 * DAY, 1), titleDownloaded({ at: T0 + 3 * DAY, titleId: 'strict-a', licenseId: 'S1', deviceId: 'd1', via: 'renew' })]);
  });

  t.test('a renewal of a default title is not counted even when the title is at its yearly limit', async (t) => {
    const { given } = specification(t);
    const history = [
      ...plain,
      ...acquisition({ at: T0 + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain', registersDevice: false }),
      ...acquisition({ at: T0 + 2, licenseId: 'L3', deviceId: 'd1', titleId: 'plain', registersDevice: false }),
    ];
    given(history)
      .when(renew({ now: T0 + DAY, licenseId: 'L1' }))
      .then([licenseRenewed(T0 + DAY, 'L1', T0 + 60 * DAY, 1)]);
  });

  t.test("uses the rules in force for the title's studio, not the ones at acquisition", async (t) => {
    // The strict studio's window becomes 10 days: the renewal grants 10 days.
    const base = testRules();
    const rules = testRules({ studios: { ...base.studios, strict: { ...base.studios.strict, licenseWindowDays: 10 } } });
    const { given } = specification(t, rules);
    given(strict)
      .when(renew({ now: T0 + DAY, licenseId: 'S1' }))
      .then([licenseRenewed(T0 + DAY, 'S1', T0 + 17 * DAY, 1), titleDownloaded({ at: T0 + DAY, titleId: 'strict-a', licenseId: 'S1', deviceId: 'd1', via: 'renew' })]);
  });
});

t.test('LICENSE_RELEASED', async (t) => {
  t.test('a license the member released cannot be renewed', async (t) => {
    const { given } = specification(t);
    const refusal = given([...plain, licenseReleased(T0 + DAY, 'L1')])
      .when(renew({ now: T0 + 2 * DAY, licenseId: 'L1' }))
      .then('LICENSE_RELEASED');
    t.same(refusal.details, { licenseId: 'L1', releasedAt: iso(T0 + DAY), cause: 'member' });
    t.match(refusal.message, /cannot be renewed/);
  });

  t.test('a license released by a device deactivation cannot be renewed', async (t) => {
    const { given } = specification(t);
    const refusal = given([...plain, deviceDeactivated(T0 + DAY, 'd1', ['L1']), licenseReleased(T0 + DAY, 'L1', 'device-deactivated')])
      .when(renew({ now: T0 + 2 * DAY, licenseId: 'L1', deviceId: 'd1' }))
      .then('LICENSE_RELEASED');
    t.same(refusal.details, { licenseId: 'L1', releasedAt: iso(T0 + DAY), cause: 'device-deactivated' });
  });

  t.test('a released license is refused before any renewal count is checked', async (t) => {
    const { given } = specification(t);
    given([...strict, licenseRenewed(T0 + 1, 'S1', T0 + 14 * DAY, 1), licenseReleased(T0 + 2, 'S1')])
      .when(renew({ now: T0 + 3, licenseId: 'S1' }))
      .then('LICENSE_RELEASED');
  });
});

t.test('RENEWAL_LIMIT', async (t) => {
  t.test('the strict studio allows one renewal', async (t) => {
    const { given } = specification(t);
    const history = [
      ...strict,
      licenseRenewed(T0 + DAY, 'S1', T0 + 14 * DAY, 1),
      titleDownloaded({ at: T0 + DAY, titleId: 'strict-a', licenseId: 'S1', deviceId: 'd1', via: 'renew' }),
    ];
    const refusal = given(history)
      .when(renew({ now: T0 + 2 * DAY, licenseId: 'S1' }))
      .then('RENEWAL_LIMIT');
    t.same(refusal.details, { licenseId: 'S1', renewals: 1, limit: 1 });
    t.match(refusal.message, /renewed 1 times; the limit for this title is 1/);
  });

  t.test('a limit of 0 refuses the first renewal', async (t) => {
    const rules = testRules({ defaults: { ...testRules().defaults, maxRenewals: 0 } });
    const { given } = specification(t, rules);
    const refusal = given(plain)
      .when(renew({ now: T0 + DAY, licenseId: 'L1' }))
      .then('RENEWAL_LIMIT');
    t.same(refusal.details, { licenseId: 'L1', renewals: 0, limit: 0 });
  });
});

t.test('YEARLY_TITLE_LIMIT on renewal, when the studio counts renewals', async (t) => {
  t.test('two downloads of the title this year: a renewal would be the third', async (t) => {
    const { given } = specification(t);
    const history = [...strict, ...acquisition({ at: T0 + DAY, licenseId: 'S2', deviceId: 'd2', titleId: 'strict-a', studioId: 'strict', windowDays: 7 })];
    const refusal = given(history)
      .when(renew({ now: T0 + 2 * DAY, licenseId: 'S1' }))
      .then('YEARLY_TITLE_LIMIT');
    t.same(refusal.details, {
      titleId: 'strict-a',
      limit: 2,
      countingDownloads: [
        { at: iso(T0), licenseId: 'S1', via: 'acquire' },
        { at: iso(T0 + DAY), licenseId: 'S2', via: 'acquire' },
      ],
      nextSlotAt: iso(T0 + YEAR),
    });
  });

  t.test('counted renewals are listed, and the rolling window applies to them', async (t) => {
    // Unlimited renewals for strict, so only the yearly count binds.
    const base = testRules();
    const rules = testRules({ studios: { ...base.studios, strict: { ...base.studios.strict, maxRenewals: null } } });
    const { given } = specification(t, rules);
    const history = [
      ...strict,
      licenseRenewed(T0 + DAY, 'S1', T0 + 14 * DAY, 1),
      titleDownloaded({ at: T0 + DAY, titleId: 'strict-a', licenseId: 'S1', deviceId: 'd1', via: 'renew' }),
    ];
    const refusal = given(history)
      .when(renew({ now: T0 + YEAR - 1, licenseId: 'S1' }))
      .then('YEARLY_TITLE_LIMIT');
    t.same(
      refusal.details.countingDownloads,
      [
        { at: iso(T0), licenseId: 'S1', via: 'acquire' },
        { at: iso(T0 + DAY), licenseId: 'S1', via: 'renew' },
      ],
      'the acquisition and the counted renewal',
    );
    t.equal(refusal.details.nextSlotAt, iso(T0 + YEAR));
    // 365 days + 1 ms after the acquisition it no longer counts; the renewal still does (1 of 2).
    given(history)
      .when(renew({ now: T0 + YEAR + 1, licenseId: 'S1' }))
      .then([
        licenseRenewed(T0 + YEAR + 1, 'S1', T0 + YEAR + 1 + 7 * DAY, 2),
        titleDownloaded({ at: T0 + YEAR + 1, titleId: 'strict-a', licenseId: 'S1', deviceId: 'd1', via: 'renew' }),
      ]);
  });
});

t.test('LICENSE_NOT_FOUND', async (t) => {
  const { given } = specification(t);
  const refusal = given(plain)
    .when(renew({ now: T0 + DAY, licenseId: 'nope' }))
    .then('LICENSE_NOT_FOUND');
  t.same(refusal.details, { licenseId: 'nope' });
  given([])
    .when(renew({ now: T0, licenseId: 'L1' }))
    .then('LICENSE_NOT_FOUND');
});

t.test('WRONG_DEVICE', async (t) => {
  const { given } = specification(t);
  const refusal = given(plain)
    .when(renew({ now: T0 + DAY, licenseId: 'L1', deviceId: 'd2' }))
    .then('WRONG_DEVICE');
  t.same(refusal.details, { licenseId: 'L1', deviceId: 'd2' });
});

t.test('request ids', async (t) => {
  const history = [...plain, ...withRequestId('R1', [licenseRenewed(T0 + DAY, 'L1', T0 + 60 * DAY, 1)])];

  t.test('a repeat within 24h returns the first answer and writes nothing', async (t) => {
    const { given } = specification(t);
    const decision = given(history)
      .when(renew({ now: T0 + 2 * DAY - 1, licenseId: 'L1', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
    t.same(decision.answer, { kind: 'renew', licenseId: 'L1', expiresAt: T0 + 60 * DAY, renewals: 1 });
  });

  t.test('a repeat is answered even after the license was released', async (t) => {
    const { given } = specification(t);
    const decision = given([...history, licenseReleased(T0 + DAY + 1, 'L1')])
      .when(renew({ now: T0 + DAY + 2, licenseId: 'L1', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
  });

  t.test('the same request id for another license is reused', async (t) => {
    const { given } = specification(t);
    given([...history, ...acquisition({ at: T0 + DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'other', registersDevice: false })])
      .when(renew({ now: T0 + DAY + 1, licenseId: 'L2', requestId: 'R1' }))
      .then(requestIdReused);
  });

  t.test('after 24h the request id is free again', async (t) => {
    const { given } = specification(t);
    given(history)
      .when(renew({ now: T0 + 2 * DAY + 1, licenseId: 'L1', requestId: 'R1' }))
      .then([licenseRenewed(T0 + 2 * DAY + 1, 'L1', T0 + 90 * DAY, 2)]);
  });

  t.test('replayed out of time order, a request id reused after its window still answers its newer use', async (t) => {
    // R1 acquired L2 at T0, then (a day later, window passed) renewed L1. A load replays
    // aggregate by aggregate, here L1's events before L2's: the older use comes last.
    const { given } = specification(t);
    const replayOrder = [
      ...plain.filter((e) => e.type === 'LicenseAcquired'),
      ...withRequestId('R1', [licenseRenewed(T0 + DAY, 'L1', T0 + 60 * DAY, 1)]),
      ...withRequestId('R1', [acquisition({ at: T0, licenseId: 'L2', deviceId: 'd1', titleId: 'other', registersDevice: false })[0]!]),
    ];
    const decision = given(replayOrder)
      .when(renew({ now: T0 + DAY + 1, licenseId: 'L1', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true, 'the retry is answered, not renewed a second time');
    t.same(decision.answer, { kind: 'renew', licenseId: 'L1', expiresAt: T0 + 60 * DAY, renewals: 1 });
  });
});

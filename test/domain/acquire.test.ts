/** AcquireLicense: given/when/then on the member decider. */
import t from 'tap';
import type { AcquireLicense } from '../../src/domain/member/commands.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';
import {
  acquisition,
  deviceDeactivated,
  deviceRegistered,
  licenseAcquired,
  licenseReleased,
  licenseRenewed,
  nothing,
  requestIdReused,
  specification,
  titleDownloaded,
  unknownPlan,
  withRequestId,
} from './decider-spec.ts';

const YEAR = 365 * DAY;
const iso = (at: number): string => new Date(at).toISOString();

function acquire(o: { now: number; licenseId: string; deviceId: string; titleId: string; plan?: string; requestId?: string }): AcquireLicense {
  return { type: 'AcquireLicense', ...o };
}

/** `count` active licenses of uncatalogued titles t1..tN, one per device d1..dN, all at T0. */
function activeOnDevices(count: number): DomainEvent[] {
  const events: DomainEvent[] = [];
  for (let i = 1; i <= count; i++) events.push(...acquisition({ at: T0, licenseId: `L${i}`, deviceId: `d${i}`, titleId: `t${i}` }));
  return events;
}

t.test('emits the events of an acquisition', async (t) => {
  t.test('a new device: LicenseAcquired + TitleDownloaded + DeviceRegistered', async (t) => {
    const { given } = specification(t);
    const decision = given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-a' }))
      .then([
        { type: 'LicenseAcquired', at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-a', studioId: 'strict', expiresAt: T0 + 7 * DAY },
        { type: 'TitleDownloaded', at: T0, titleId: 'strict-a', licenseId: 'L1', deviceId: 'd1', via: 'acquire' },
        { type: 'DeviceRegistered', at: T0, deviceId: 'd1' },
      ]);
    t.same(decision.answer, {
      kind: 'acquire',
      licenseId: 'L1',
      deviceId: 'd1',
      titleId: 'strict-a',
      studioId: 'strict',
      expiresAt: T0 + 7 * DAY,
      rulesVersion: 'test-1',
    });
  });

  t.test('a device already active: no DeviceRegistered', async (t) => {
    const { given } = specification(t);
    given(acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' }))
      .when(acquire({ now: T0 + DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'open-a' }))
      .then([
        licenseAcquired({ at: T0 + DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'open-a', studioId: 'open' }),
        titleDownloaded({ at: T0 + DAY, titleId: 'open-a', licenseId: 'L2', deviceId: 'd1' }),
      ]);
  });

  t.test('a registered device whose downloads were all released is still active: no DeviceRegistered', async (t) => {
    const { given } = specification(t);
    given([...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' }), licenseReleased(T0 + 1, 'L1')])
      .when(acquire({ now: T0 + 2, licenseId: 'L2', deviceId: 'd1', titleId: 'plain' }))
      .then([
        licenseAcquired({ at: T0 + 2, licenseId: 'L2', deviceId: 'd1', titleId: 'plain' }),
        titleDownloaded({ at: T0 + 2, titleId: 'plain', licenseId: 'L2', deviceId: 'd1' }),
      ]);
  });

  t.test('a deactivated device is registered again', async (t) => {
    const { given } = specification(t);
    given([
      ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' }),
      deviceDeactivated(T0 + DAY, 'd1', ['L1']),
      licenseReleased(T0 + DAY, 'L1', 'device-deactivated'),
    ])
      .when(acquire({ now: T0 + 2 * DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'plain' }))
      .then(acquisition({ at: T0 + 2 * DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'plain' }));
  });
});

t.test('title policy: catalog, studio overrides and defaults', async (t) => {
  t.test('an unknown title gets the defaults and studioId null', async (t) => {
    const { given } = specification(t);
    const decision = given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'not-in-catalog' }))
      .then(acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'not-in-catalog', studioId: null, windowDays: 30 }));
    t.equal(decision.answer.kind === 'acquire' && decision.answer.studioId, null);
  });

  t.test('an unknown title uses the default yearly limit (3)', async (t) => {
    const { given } = specification(t);
    const history = [0, 1, 2].flatMap((i) => [
      ...acquisition({ at: T0 + i * DAY, licenseId: `L${i}`, deviceId: 'd1', titleId: 'not-in-catalog', registersDevice: i === 0 }),
      licenseReleased(T0 + i * DAY + 1, `L${i}`),
    ]);
    const refusal = given(history)
      .when(acquire({ now: T0 + 3 * DAY, licenseId: 'L3', deviceId: 'd1', titleId: 'not-in-catalog' }))
      .then('YEARLY_TITLE_LIMIT');
    t.equal(refusal.details.limit, 3);
  });

  t.test('an unknown title counts toward no studio, even when the default studio limit is set', async (t) => {
    const rules = testRules({ defaults: { ...testRules().defaults, maxActiveDownloadsPerStudio: 1 } });
    const { given } = specification(t, rules);
    const twoUnknown = [
      ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'x1' }),
      ...acquisition({ at: T0, licenseId: 'L2', deviceId: 'd1', titleId: 'x2', registersDevice: false }),
    ];
    given(twoUnknown)
      .when(acquire({ now: T0 + 1, licenseId: 'L3', deviceId: 'd1', titleId: 'x3' }))
      .then(acquisition({ at: T0 + 1, licenseId: 'L3', deviceId: 'd1', titleId: 'x3', registersDevice: false }));
    // ...while a catalogued studio without its own key inherits the default limit of 1.
    const refusal = given([...twoUnknown, ...acquisition({ at: T0, licenseId: 'L4', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false })])
      .when(acquire({ now: T0 + 1, licenseId: 'L5', deviceId: 'd1', titleId: 'open-a' }))
      .then('STUDIO_LIMIT');
    t.match(refusal.details, { studioId: 'open', limit: 1, activeLicenses: [{ licenseId: 'L4', titleId: 'open-a', deviceId: 'd1' }] });
  });

  t.test('a title named like an Object.prototype key is an unknown title', async (t) => {
    const { given } = specification(t);
    given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'constructor' }))
      .then(acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'constructor', studioId: null }));
  });

  t.test("a studio's window overrides the default", async (t) => {
    const { given } = specification(t);
    given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-b' }))
      .then(acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-b', studioId: 'strict', windowDays: 7 }));
  });

  t.test("a studio's yearly limit null (no limit) overrides the default 3", async (t) => {
    const { given } = specification(t);
    const history = [0, 1, 2, 3, 4].flatMap((i) => [
      ...acquisition({ at: T0 + i * DAY, licenseId: `L${i}`, deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: i === 0 }),
      licenseReleased(T0 + i * DAY + 1, `L${i}`),
    ]);
    given(history)
      .when(acquire({ now: T0 + 5 * DAY, licenseId: 'L5', deviceId: 'd1', titleId: 'open-a' }))
      .then(acquisition({ at: T0 + 5 * DAY, licenseId: 'L5', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
  });

  t.test("a studio's yearly limit 2 overrides the default 3", async (t) => {
    const { given } = specification(t);
    const history = [0, 1].flatMap((i) => [
      ...acquisition({ at: T0 + i * DAY, licenseId: `L${i}`, deviceId: 'd1', titleId: 'strict-a', studioId: 'strict', windowDays: 7, registersDevice: i === 0 }),
      licenseReleased(T0 + i * DAY + 1, `L${i}`),
    ]);
    const refusal = given(history)
      .when(acquire({ now: T0 + 2 * DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'strict-a' }))
      .then('YEARLY_TITLE_LIMIT');
    t.equal(refusal.details.limit, 2);
  });

  t.test('a studio key left out falls back to the default (open studio: default window)', async (t) => {
    const { given } = specification(t);
    given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'open-a' }))
      .then(acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'open-a', studioId: 'open', windowDays: 30 }));
  });

  t.test('a title mapped to a studio missing from rules.studios gets the defaults but keeps its studio id', async (t) => {
    const rules = testRules({ titles: { ghost: { studio: 'nobody' } } });
    const { given } = specification(t, rules);
    given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'ghost' }))
      .then(acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'ghost', studioId: 'nobody', windowDays: 30 }));
  });

  t.test('an unknown plan is a caller error, not a refusal', async (t) => {
    const { given } = specification(t);
    const answer = given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain', plan: 'gold' }))
      .then(unknownPlan);
    t.same(answer, { unknownPlan: true, plan: 'gold', message: 'plan "gold" is not a plan in rules version test-1 (known: basic, standard, premium)' });
  });

  t.test('an unknown plan is answered before a request id seen before', async (t) => {
    const { given } = specification(t);
    given(withRequestId('r1', acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' })))
      .when(acquire({ now: T0 + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain', plan: 'gold', requestId: 'r1' }))
      .then(unknownPlan);
  });
});

t.test('DEVICE_LIMIT by plan', async (t) => {
  for (const [plan, limit] of [
    ['basic', 1],
    ['standard', 2],
    ['premium', 4],
  ] as const) {
    t.test(`${plan}: ${limit} device(s) may hold downloads`, async (t) => {
      const { given } = specification(t);
      const full = activeOnDevices(limit);
      const refusal = given(full)
        .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'dX', titleId: 'plain', plan }))
        .then('DEVICE_LIMIT');
      t.same(refusal.details, {
        plan,
        limit,
        devicesHoldingDownloads: Array.from({ length: limit }, (_, i) => ({ deviceId: `d${i + 1}`, activeLicenses: 1 })),
      });
      t.match(refusal.message, new RegExp(`Plan ${plan} allows downloads on ${limit} device`));
      t.match(refusal.message, /d1/);

      // One device fewer: the new device is allowed.
      given(activeOnDevices(limit - 1))
        .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'dX', titleId: 'plain', plan }))
        .then(acquisition({ at: T0 + DAY, licenseId: 'LX', deviceId: 'dX', titleId: 'plain' }));

      // A device already holding downloads may take more, even at the limit.
      given(full)
        .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd1', titleId: 'open-a', plan }))
        .then(acquisition({ at: T0 + DAY, licenseId: 'LX', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
    });
  }

  t.test('a member over the limit (downloads on more devices than the plan allows, e.g. after a downgrade) may not add downloads on any device', async (t) => {
    const { given } = specification(t);
    const refusal = given(activeOnDevices(2))
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd1', titleId: 'open-a', plan: 'basic' }))
      .then('DEVICE_LIMIT');
    t.same(refusal.details, {
      plan: 'basic',
      limit: 1,
      devicesHoldingDownloads: [
        { deviceId: 'd1', activeLicenses: 1 },
        { deviceId: 'd2', activeLicenses: 1 },
      ],
    });
    // Once the member is back within the limit, the remaining device may take more.
    given([...activeOnDevices(2), licenseReleased(T0 + 1, 'L2')])
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd1', titleId: 'open-a', plan: 'basic' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'LX', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
  });

  t.test('the default plan (standard) applies when the edge sends none', async (t) => {
    const { given } = specification(t);
    const refusal = given(activeOnDevices(2))
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd3', titleId: 'plain' }))
      .then('DEVICE_LIMIT');
    t.match(refusal.details, { plan: 'standard', limit: 2 });
  });

  t.test('counts devices by their active licenses (several licenses on one device count once)', async (t) => {
    const { given } = specification(t);
    const refusal = given([
      ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' }),
      ...acquisition({ at: T0, licenseId: 'L2', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }),
    ])
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd2', titleId: 'plain', plan: 'basic' }))
      .then('DEVICE_LIMIT');
    t.same(refusal.details.devicesHoldingDownloads, [{ deviceId: 'd1', activeLicenses: 2 }]);
  });

  t.test('a device whose downloads were released no longer counts', async (t) => {
    const { given } = specification(t);
    given([...activeOnDevices(1), licenseReleased(T0 + 1, 'L1')])
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd2', titleId: 'plain', plan: 'basic' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'LX', deviceId: 'd2', titleId: 'plain' }));
  });

  t.test('a deactivated device no longer counts', async (t) => {
    const { given } = specification(t);
    given([...activeOnDevices(1), deviceDeactivated(T0 + 1, 'd1', ['L1']), licenseReleased(T0 + 1, 'L1', 'device-deactivated')])
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd2', titleId: 'plain', plan: 'basic' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'LX', deviceId: 'd2', titleId: 'plain' }));
  });

  t.test('a plan with no device limit (null) never refuses', async (t) => {
    const rules = testRules({ plans: { standard: { maxDownloadDevices: 2 }, unlimited: { maxDownloadDevices: null } } });
    const { given } = specification(t, rules);
    given(activeOnDevices(4))
      .when(acquire({ now: T0 + DAY, licenseId: 'LX', deviceId: 'd9', titleId: 'plain', plan: 'unlimited' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'LX', deviceId: 'd9', titleId: 'plain' }));
  });
});

t.test('DEVICE_DOWNLOAD_LIMIT', async (t) => {
  // testRules: 5 active downloads per device; titles from the open studio have no yearly limit.
  const fiveOnD1: DomainEvent[] = [1, 2, 3, 4, 5].flatMap((i) => acquisition({ at: T0 + i, licenseId: `L${i}`, deviceId: 'd1', titleId: `t${i}`, registersDevice: i === 1 }));

  t.test('a device holding the maximum refuses another, naming its licenses', async (t) => {
    const { given } = specification(t);
    const refusal = given(fiveOnD1)
      .when(acquire({ now: T0 + DAY, licenseId: 'L6', deviceId: 'd1', titleId: 't6' }))
      .then('DEVICE_DOWNLOAD_LIMIT');
    t.same(refusal.details, { deviceId: 'd1', limit: 5, activeLicenseIds: ['L1', 'L2', 'L3', 'L4', 'L5'] });
    t.match(refusal.message, /Device d1 holds 5 downloads \(limit 5\)/);
  });

  t.test('another device is not affected', async (t) => {
    const { given } = specification(t);
    given(fiveOnD1)
      .when(acquire({ now: T0 + DAY, licenseId: 'L6', deviceId: 'd2', titleId: 't6' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'L6', deviceId: 'd2', titleId: 't6' }));
  });

  t.test('releasing one on the device frees a slot', async (t) => {
    const { given } = specification(t);
    given([...fiveOnD1, licenseReleased(T0 + 10, 'L3')])
      .when(acquire({ now: T0 + DAY, licenseId: 'L6', deviceId: 'd1', titleId: 't6' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'L6', deviceId: 'd1', titleId: 't6', registersDevice: false }));
  });
});

t.test('STUDIO_LIMIT', async (t) => {
  // The strict studio allows 2 active downloads at once, per member, across devices.
  const twoStrict: DomainEvent[] = [
    ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-a', studioId: 'strict', windowDays: 7 }),
    ...acquisition({ at: T0 + 1, licenseId: 'L2', deviceId: 'd2', titleId: 'strict-b', studioId: 'strict', windowDays: 7 }),
  ];

  t.test('a third active title of the studio is refused, naming the active ones', async (t) => {
    const { given } = specification(t);
    const refusal = given(twoStrict)
      .when(acquire({ now: T0 + DAY, licenseId: 'L3', deviceId: 'd1', titleId: 'strict-c' }))
      .then('STUDIO_LIMIT');
    t.same(refusal.details, {
      studioId: 'strict',
      limit: 2,
      activeLicenses: [
        { licenseId: 'L1', titleId: 'strict-a', deviceId: 'd1' },
        { licenseId: 'L2', titleId: 'strict-b', deviceId: 'd2' },
      ],
    });
    t.match(refusal.message, /studio strict/);
  });

  t.test('titles of other studios are not affected', async (t) => {
    const { given } = specification(t);
    given(twoStrict)
      .when(acquire({ now: T0 + DAY, licenseId: 'L3', deviceId: 'd1', titleId: 'open-a' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'L3', deviceId: 'd1', titleId: 'open-a', studioId: 'open', registersDevice: false }));
  });

  t.test('a released license of the studio frees a slot', async (t) => {
    const { given } = specification(t);
    given([...twoStrict, licenseReleased(T0 + 2, 'L2')])
      .when(acquire({ now: T0 + DAY, licenseId: 'L3', deviceId: 'd1', titleId: 'strict-c' }))
      .then(acquisition({ at: T0 + DAY, licenseId: 'L3', deviceId: 'd1', titleId: 'strict-c', studioId: 'strict', windowDays: 7, registersDevice: false }));
  });
});

t.test('YEARLY_TITLE_LIMIT', async (t) => {
  // Default yearly limit 3; each download released right after, so only the yearly limit binds.
  const days = [0, 100, 200];
  const threeDownloads: DomainEvent[] = days.flatMap((d, i) => [
    ...acquisition({ at: T0 + d * DAY, licenseId: `L${i + 1}`, deviceId: 'd1', titleId: 'plain', registersDevice: i === 0 }),
    licenseReleased(T0 + d * DAY + 1, `L${i + 1}`),
  ]);

  t.test('the fourth acquisition in 365 days is refused with the ones that count and the next slot', async (t) => {
    const { given } = specification(t);
    const refusal = given(threeDownloads)
      .when(acquire({ now: T0 + 300 * DAY, licenseId: 'L4', deviceId: 'd1', titleId: 'plain' }))
      .then('YEARLY_TITLE_LIMIT');
    t.same(refusal.details, {
      titleId: 'plain',
      limit: 3,
      countingDownloads: [
        { at: iso(T0), licenseId: 'L1', via: 'acquire' },
        { at: iso(T0 + 100 * DAY), licenseId: 'L2', via: 'acquire' },
        { at: iso(T0 + 200 * DAY), licenseId: 'L3', via: 'acquire' },
      ],
      nextSlotAt: iso(T0 + YEAR),
    });
    t.match(refusal.message, new RegExp(`next download is possible from ${iso(T0 + YEAR).replace(/\./g, '\\.')}`));
  });

  t.test('the rolling window: the oldest counts until 365 days have passed', async (t) => {
    const { given } = specification(t);
    given(threeDownloads)
      .when(acquire({ now: T0 + YEAR - 1, licenseId: 'L4', deviceId: 'd1', titleId: 'plain' }))
      .then('YEARLY_TITLE_LIMIT');
    // At nextSlotAt exactly the oldest no longer counts (nextSlotAt is the first allowed instant).
    given(threeDownloads)
      .when(acquire({ now: T0 + YEAR, licenseId: 'L4', deviceId: 'd1', titleId: 'plain' }))
      .then(acquisition({ at: T0 + YEAR, licenseId: 'L4', deviceId: 'd1', titleId: 'plain', registersDevice: false }));
    // A download 365 days + 1 ms ago no longer counts.
    given(threeDownloads)
      .when(acquire({ now: T0 + YEAR + 1, licenseId: 'L4', deviceId: 'd1', titleId: 'plain' }))
      .then(acquisition({ at: T0 + YEAR + 1, licenseId: 'L4', deviceId: 'd1', titleId: 'plain', registersDevice: false }));
  });

  t.test('after the window moves, the refusal lists only the downloads still counting', async (t) => {
    const { given } = specification(t);
    const history = [...threeDownloads, ...acquisition({ at: T0 + YEAR + 1, licenseId: 'L4', deviceId: 'd1', titleId: 'plain', registersDevice: false })];
    const refusal = given(history)
      .when(acquire({ now: T0 + YEAR + 2, licenseId: 'L5', deviceId: 'd1', titleId: 'plain' }))
      .then('YEARLY_TITLE_LIMIT');
    t.same(
      (refusal.details.countingDownloads as { licenseId: string }[]).map((d) => d.licenseId),
      ['L2', 'L3', 'L4'],
    );
    t.equal(refusal.details.nextSlotAt, iso(T0 + 100 * DAY + YEAR));
  });

  t.test('other titles are counted separately', async (t) => {
    const { given } = specification(t);
    given(threeDownloads)
      .when(acquire({ now: T0 + 300 * DAY, licenseId: 'L4', deviceId: 'd1', titleId: 'plain-2' }))
      .then(acquisition({ at: T0 + 300 * DAY, licenseId: 'L4', deviceId: 'd1', titleId: 'plain-2', registersDevice: false }));
  });

  t.test('renewals count when the studio says so, and are listed as such', async (t) => {
    const { given } = specification(t);
    const history: DomainEvent[] = [
      ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'strict-a', studioId: 'strict', windowDays: 7 }),
      licenseRenewed(T0 + 5 * DAY, 'L1', T0 + 14 * DAY, 1),
      titleDownloaded({ at: T0 + 5 * DAY, titleId: 'strict-a', licenseId: 'L1', deviceId: 'd1', via: 'renew' }),
      licenseReleased(T0 + 6 * DAY, 'L1'),
    ];
    const refusal = given(history)
      .when(acquire({ now: T0 + 10 * DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'strict-a' }))
      .then('YEARLY_TITLE_LIMIT');
    t.same(refusal.details, {
      titleId: 'strict-a',
      limit: 2,
      countingDownloads: [
        { at: iso(T0), licenseId: 'L1', via: 'acquire' },
        { at: iso(T0 + 5 * DAY), licenseId: 'L1', via: 'renew' },
      ],
      nextSlotAt: iso(T0 + YEAR),
    });
  });

  t.test('a yearly limit of 0 refuses with nothing counting and no next slot', async (t) => {
    const rules = testRules({ studios: { banned: { yearlyTitleLimit: 0 } }, titles: { 'banned-a': { studio: 'banned' } } });
    const { given } = specification(t, rules);
    const refusal = given([])
      .when(acquire({ now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'banned-a' }))
      .then('YEARLY_TITLE_LIMIT');
    t.same(refusal.details, { titleId: 'banned-a', limit: 0, countingDownloads: [], nextSlotAt: null });
  });
});

t.test('request ids', async (t) => {
  const first = withRequestId('R1', acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' }));

  t.test('a repeat within 24h returns the first answer and writes nothing', async (t) => {
    const { given } = specification(t);
    const decision = given(first)
      .when(acquire({ now: T0 + DAY - 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
    t.same(decision.answer, {
      kind: 'acquire',
      licenseId: 'L1',
      deviceId: 'd1',
      titleId: 'plain',
      studioId: null,
      expiresAt: T0 + 30 * DAY,
      rulesVersion: 'test-1',
    });
  });

  t.test('a repeat is answered even when the command would now be refused', async (t) => {
    // The first acquisition filled the basic plan's one device; its repeat is still the first answer.
    const { given } = specification(t);
    const history = [
      ...acquisition({ at: T0, licenseId: 'L0', deviceId: 'd0', titleId: 'plain' }),
      ...withRequestId('R1', acquisition({ at: T0 + 1, licenseId: 'L1', deviceId: 'd1', titleId: 'open-a', studioId: 'open' })),
    ];
    const decision = given(history)
      .when(acquire({ now: T0 + 2, licenseId: 'L2', deviceId: 'd1', titleId: 'open-a', plan: 'basic', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
    t.match(decision.answer, { kind: 'acquire', licenseId: 'L1' });
  });

  t.test('the same request id for a different command is refused as reused', async (t) => {
    const { given } = specification(t);
    const reused = given(first)
      .when(acquire({ now: T0 + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'open-a', requestId: 'R1' }))
      .then(requestIdReused);
    t.same(reused, { requestIdReused: true, requestId: 'R1' });
    given(first)
      .when({ type: 'ReleaseLicense', now: T0 + 1, licenseId: 'L1', requestId: 'R1' })
      .then(requestIdReused);
    given(first)
      .when(acquire({ now: T0 + 1, licenseId: 'L2', deviceId: 'd2', titleId: 'plain', requestId: 'R1' }))
      .then(requestIdReused);
  });

  t.test('after 24h the request id is free again', async (t) => {
    const { given } = specification(t);
    given(first)
      .when(acquire({ now: T0 + DAY + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain', requestId: 'R1' }))
      .then([
        licenseAcquired({ at: T0 + DAY + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain' }),
        titleDownloaded({ at: T0 + DAY + 1, titleId: 'plain', licenseId: 'L2', deviceId: 'd1' }),
      ]);
    given(first)
      .when({ type: 'DeactivateDevice', now: T0 + DAY + 1, deviceId: 'd1', requestId: 'R1' })
      .then([deviceDeactivated(T0 + DAY + 1, 'd1', ['L1']), licenseReleased(T0 + DAY + 1, 'L1', 'device-deactivated')]);
  });

  t.test('a different request id is a new command', async (t) => {
    const { given } = specification(t);
    given(first)
      .when(acquire({ now: T0 + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain', requestId: 'R2' }))
      .then([
        licenseAcquired({ at: T0 + 1, licenseId: 'L2', deviceId: 'd1', titleId: 'plain' }),
        titleDownloaded({ at: T0 + 1, titleId: 'plain', licenseId: 'L2', deviceId: 'd1' }),
      ]);
  });

  t.test('the events that only follow from a command (TitleDownloaded, DeviceRegistered) do not bind a request id', async (t) => {
    const { given } = specification(t);
    given([
      { requestId: 'R9', event: titleDownloaded({ at: T0, titleId: 'plain', licenseId: 'L1', deviceId: 'd1' }) },
      { requestId: 'R9', event: deviceRegistered(T0, 'd1') },
    ])
      .when({ type: 'DeactivateDevice', now: T0 + 1, deviceId: 'd1', requestId: 'R9' })
      .then([deviceDeactivated(T0 + 1, 'd1', [])]);
  });
});

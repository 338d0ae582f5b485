/** DeactivateDevice: given/when/then on the member decider. */
import t from 'tap';
import type { DeactivateDevice } from '../../src/domain/member/commands.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';
import { acquisition, deviceDeactivated, licenseReleased, nothing, requestIdReused, specification, withRequestId } from './decider-spec.ts';

const YEAR = 365 * DAY;
const iso = (at: number): string => new Date(at).toISOString();

function deactivate(o: { now: number; deviceId: string; requestId?: string }): DeactivateDevice {
  return { type: 'DeactivateDevice', ...o };
}

/** d1 holds L1 and L2 (and released L3); d2 holds L4. */
const twoDevices: DomainEvent[] = [
  ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 't1' }),
  ...acquisition({ at: T0, licenseId: 'L2', deviceId: 'd1', titleId: 't2', registersDevice: false }),
  ...acquisition({ at: T0, licenseId: 'L3', deviceId: 'd1', titleId: 't3', registersDevice: false }),
  licenseReleased(T0 + 1, 'L3'),
  ...acquisition({ at: T0, licenseId: 'L4', deviceId: 'd2', titleId: 't4' }),
];

/** A device registered (its only download released), then deactivated at `at`. */
function deactivatedDevice(deviceId: string, at: number): DomainEvent[] {
  return [
    ...acquisition({ at: at - 1, licenseId: `${deviceId}-L`, deviceId, titleId: `${deviceId}-t` }),
    deviceDeactivated(at, deviceId, [`${deviceId}-L`]),
    licenseReleased(at, `${deviceId}-L`, 'device-deactivated'),
  ];
}

t.test('emits DeviceDeactivated plus LicenseReleased (device-deactivated) per active license on the device', async (t) => {
  const { given } = specification(t);
  const decision = given(twoDevices)
    .when(deactivate({ now: T0 + DAY, deviceId: 'd1' }))
    .then([
      { type: 'DeviceDeactivated', at: T0 + DAY, deviceId: 'd1', releasedLicenseIds: ['L1', 'L2'] },
      { type: 'LicenseReleased', at: T0 + DAY, licenseId: 'L1', cause: 'device-deactivated' },
      { type: 'LicenseReleased', at: T0 + DAY, licenseId: 'L2', cause: 'device-deactivated' },
    ]);
  t.same(decision.answer, { kind: 'deactivate', deviceId: 'd1', releasedLicenseIds: ['L1', 'L2'] });
});

t.test('a device with no active licenses: DeviceDeactivated only', async (t) => {
  const { given } = specification(t);
  const decision = given([...twoDevices, licenseReleased(T0 + 2, 'L4')])
    .when(deactivate({ now: T0 + DAY, deviceId: 'd2' }))
    .then([deviceDeactivated(T0 + DAY, 'd2', [])]);
  t.same(decision.answer, { kind: 'deactivate', deviceId: 'd2', releasedLicenseIds: [] });
});

t.test('a device registered again after a deactivation can be deactivated again', async (t) => {
  const { given } = specification(t);
  given([...deactivatedDevice('d1', T0), ...acquisition({ at: T0 + DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'plain' })])
    .when(deactivate({ now: T0 + 2 * DAY, deviceId: 'd1' }))
    .then([deviceDeactivated(T0 + 2 * DAY, 'd1', ['L9']), licenseReleased(T0 + 2 * DAY, 'L9', 'device-deactivated')]);
});

t.test('deactivating an already deactivated device: nothing happens', async (t) => {
  const { given } = specification(t);
  const decision = given(deactivatedDevice('d1', T0))
    .when(deactivate({ now: T0 + DAY, deviceId: 'd1' }))
    .then(nothing);
  t.same(decision.answer, { kind: 'deactivate', deviceId: 'd1', releasedLicenseIds: [] });
  t.equal(decision.repeated, false);

  // ...even when the deactivation limit is used up: a no-op costs nothing and is not refused.
  given([...deactivatedDevice('d1', T0), ...deactivatedDevice('d2', T0 + 10)])
    .when(deactivate({ now: T0 + DAY, deviceId: 'd2' }))
    .then(nothing);
});

t.test('DEVICE_NOT_FOUND', async (t) => {
  const { given } = specification(t);
  const refusal = given(twoDevices)
    .when(deactivate({ now: T0 + DAY, deviceId: 'd7' }))
    .then('DEVICE_NOT_FOUND');
  t.same(refusal.details, { deviceId: 'd7' });
  t.match(refusal.message, /d7/);
  given([])
    .when(deactivate({ now: T0, deviceId: 'd1' }))
    .then('DEVICE_NOT_FOUND');
});

t.test('DEACTIVATION_LIMIT', async (t) => {
  // testRules: 2 deactivations per rolling year, counted across all of the member's devices.
  const used: DomainEvent[] = [
    ...deactivatedDevice('d1', T0),
    ...deactivatedDevice('d2', T0 + 100 * DAY),
    ...acquisition({ at: T0 + 150 * DAY, licenseId: 'L3', deviceId: 'd3', titleId: 'plain' }),
  ];

  t.test('the third deactivation in a year is refused, listing the ones that count and the next slot', async (t) => {
    const { given } = specification(t);
    const refusal = given(used)
      .when(deactivate({ now: T0 + 200 * DAY, deviceId: 'd3' }))
      .then('DEACTIVATION_LIMIT');
    t.same(refusal.details, {
      deviceId: 'd3',
      limit: 2,
      deactivations: [iso(T0), iso(T0 + 100 * DAY)],
      nextSlotAt: iso(T0 + YEAR),
    });
    t.match(refusal.message, /2 devices were deactivated in the last 365 days \(limit 2\)/);
    t.match(refusal.message, new RegExp(iso(T0 + YEAR).replace(/\./g, '\\.')));
  });

  t.test('deactivations of one device count as often as they happened', async (t) => {
    const { given } = specification(t);
    const history = [
      ...deactivatedDevice('d1', T0),
      ...acquisition({ at: T0 + DAY, licenseId: 'L8', deviceId: 'd1', titleId: 'plain' }),
      deviceDeactivated(T0 + 2 * DAY, 'd1', ['L8']),
      licenseReleased(T0 + 2 * DAY, 'L8', 'device-deactivated'),
      ...acquisition({ at: T0 + 3 * DAY, licenseId: 'L9', deviceId: 'd1', titleId: 'plain2' }),
    ];
    const refusal = given(history)
      .when(deactivate({ now: T0 + 4 * DAY, deviceId: 'd1' }))
      .then('DEACTIVATION_LIMIT');
    t.same(refusal.details.deactivations, [iso(T0), iso(T0 + 2 * DAY)]);
  });

  t.test('the list is sorted oldest first across devices, so nextSlotAt is the oldest + 365 days', async (t) => {
    // dA registered first but deactivated last: the member's devices are not in deactivation order.
    const { given } = specification(t);
    const history = [
      ...acquisition({ at: T0, licenseId: 'LA', deviceId: 'dA', titleId: 'ta' }),
      ...acquisition({ at: T0 + 1, licenseId: 'LB', deviceId: 'dB', titleId: 'tb' }),
      deviceDeactivated(T0 + 5 * DAY, 'dB', ['LB']),
      licenseReleased(T0 + 5 * DAY, 'LB', 'device-deactivated'),
      deviceDeactivated(T0 + 50 * DAY, 'dA', ['LA']),
      licenseReleased(T0 + 50 * DAY, 'LA', 'device-deactivated'),
      ...acquisition({ at: T0 + 60 * DAY, licenseId: 'L3', deviceId: 'd3', titleId: 'plain' }),
    ];
    const refusal = given(history)
      .when(deactivate({ now: T0 + 70 * DAY, deviceId: 'd3' }))
      .then('DEACTIVATION_LIMIT');
    t.same(refusal.details.deactivations, [iso(T0 + 5 * DAY), iso(T0 + 50 * DAY)]);
    t.equal(refusal.details.nextSlotAt, iso(T0 + 5 * DAY + YEAR));
  });

  t.test('the rolling window: the oldest counts until 365 days have passed', async (t) => {
    const { given } = specification(t);
    given(used)
      .when(deactivate({ now: T0 + YEAR - 1, deviceId: 'd3' }))
      .then('DEACTIVATION_LIMIT');
    given(used)
      .when(deactivate({ now: T0 + YEAR + 1, deviceId: 'd3' }))
      .then([deviceDeactivated(T0 + YEAR + 1, 'd3', ['L3']), licenseReleased(T0 + YEAR + 1, 'L3', 'device-deactivated')]);
  });

  t.test('a refused deactivation releases nothing', async (t) => {
    const { given } = specification(t);
    // The refusal carries no events; the license on d3 stays active (it can still be released by the member).
    given(used)
      .when(deactivate({ now: T0 + 200 * DAY, deviceId: 'd3' }))
      .then('DEACTIVATION_LIMIT');
    given(used)
      .when({ type: 'ReleaseLicense', now: T0 + 200 * DAY, licenseId: 'L3' })
      .then([licenseReleased(T0 + 200 * DAY, 'L3')]);
  });

  t.test('a limit of 0 refuses with no next slot', async (t) => {
    const { given } = specification(t, testRules({ maxDeviceDeactivationsPerYear: 0 }));
    const refusal = given(twoDevices)
      .when(deactivate({ now: T0 + DAY, deviceId: 'd1' }))
      .then('DEACTIVATION_LIMIT');
    t.same(refusal.details, { deviceId: 'd1', limit: 0, deactivations: [], nextSlotAt: null });
  });

  t.test('no limit (null) never refuses', async (t) => {
    const { given } = specification(t, testRules({ maxDeviceDeactivationsPerYear: null }));
    given(used)
      .when(deactivate({ now: T0 + 200 * DAY, deviceId: 'd3' }))
      .then([deviceDeactivated(T0 + 200 * DAY, 'd3', ['L3']), licenseReleased(T0 + 200 * DAY, 'L3', 'device-deactivated')]);
  });
});

t.test('request ids', async (t) => {
  const history = [
    ...twoDevices,
    ...withRequestId('R1', [
      deviceDeactivated(T0 + DAY, 'd1', ['L1', 'L2']),
      licenseReleased(T0 + DAY, 'L1', 'device-deactivated'),
      licenseReleased(T0 + DAY, 'L2', 'device-deactivated'),
    ]),
  ];

  t.test('a repeat within 24h returns the first answer and writes nothing', async (t) => {
    const { given } = specification(t);
    const decision = given(history)
      .when(deactivate({ now: T0 + DAY + 1, deviceId: 'd1', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
    t.same(decision.answer, { kind: 'deactivate', deviceId: 'd1', releasedLicenseIds: ['L1', 'L2'] });
  });

  t.test('the same request id for another device is reused', async (t) => {
    const { given } = specification(t);
    given(history)
      .when(deactivate({ now: T0 + DAY + 1, deviceId: 'd2', requestId: 'R1' }))
      .then(requestIdReused);
  });
});

/** ReleaseLicense: given/when/then on the member decider. */
import t from 'tap';
import type { ReleaseLicense } from '../../src/domain/member/commands.ts';
import { DAY, T0 } from '../support/fixtures.ts';
import { acquisition, deviceDeactivated, licenseReleased, nothing, requestIdReused, specification, withRequestId } from './decider-spec.ts';

function release(o: { now: number; licenseId: string; deviceId?: string; requestId?: string }): ReleaseLicense {
  return { type: 'ReleaseLicense', ...o };
}

const held = [
  ...acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' }),
  ...acquisition({ at: T0, licenseId: 'L2', deviceId: 'd1', titleId: 'other', registersDevice: false }),
];

t.test('emits LicenseReleased with cause member', async (t) => {
  const { given } = specification(t);
  const decision = given(held)
    .when(release({ now: T0 + DAY, licenseId: 'L1' }))
    .then([{ type: 'LicenseReleased', at: T0 + DAY, licenseId: 'L1', cause: 'member' }]);
  t.same(decision.answer, { kind: 'release', licenseId: 'L1', releasedAt: T0 + DAY });
});

t.test('with the right device given', async (t) => {
  const { given } = specification(t);
  given(held)
    .when(release({ now: T0 + DAY, licenseId: 'L2', deviceId: 'd1' }))
    .then([licenseReleased(T0 + DAY, 'L2')]);
});

t.test('an expired license can still be released', async (t) => {
  const { given } = specification(t);
  given(held)
    .when(release({ now: T0 + 100 * DAY, licenseId: 'L1' }))
    .then([licenseReleased(T0 + 100 * DAY, 'L1')]);
});

t.test('releasing twice: nothing happens, the first release stands', async (t) => {
  const { given } = specification(t);
  const decision = given([...held, licenseReleased(T0 + DAY, 'L1')])
    .when(release({ now: T0 + 2 * DAY, licenseId: 'L1' }))
    .then(nothing);
  t.equal(decision.repeated, false, 'an idempotent no-op, not a repeated request');
  t.same(decision.answer, { kind: 'release', licenseId: 'L1', releasedAt: T0 + DAY });
});

t.test('releasing a license already released by a device deactivation: nothing happens', async (t) => {
  const { given } = specification(t);
  const decision = given([
    ...held,
    deviceDeactivated(T0 + DAY, 'd1', ['L1', 'L2']),
    licenseReleased(T0 + DAY, 'L1', 'device-deactivated'),
    licenseReleased(T0 + DAY, 'L2', 'device-deactivated'),
  ])
    .when(release({ now: T0 + 2 * DAY, licenseId: 'L2', deviceId: 'd1' }))
    .then(nothing);
  t.same(decision.answer, { kind: 'release', licenseId: 'L2', releasedAt: T0 + DAY });
});

t.test('LICENSE_NOT_FOUND', async (t) => {
  const { given } = specification(t);
  const refusal = given(held)
    .when(release({ now: T0 + DAY, licenseId: 'L9' }))
    .then('LICENSE_NOT_FOUND');
  t.same(refusal.details, { licenseId: 'L9' });
  t.match(refusal.message, /L9/);
});

t.test('WRONG_DEVICE', async (t) => {
  const { given } = specification(t);
  const refusal = given(held)
    .when(release({ now: T0 + DAY, licenseId: 'L1', deviceId: 'd2' }))
    .then('WRONG_DEVICE');
  t.same(refusal.details, { licenseId: 'L1', deviceId: 'd2' });
  // Also for a license already released: acting on another device's license is refused, not a no-op.
  given([...held, licenseReleased(T0 + 1, 'L1')])
    .when(release({ now: T0 + DAY, licenseId: 'L1', deviceId: 'd2' }))
    .then('WRONG_DEVICE');
});

t.test('request ids', async (t) => {
  const history = [...held, ...withRequestId('R1', [licenseReleased(T0 + DAY, 'L1')])];

  t.test('a repeat within 24h returns the first answer, repeated, and writes nothing', async (t) => {
    const { given } = specification(t);
    const decision = given(history)
      .when(release({ now: T0 + DAY + 5, licenseId: 'L1', requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
    t.same(decision.answer, { kind: 'release', licenseId: 'L1', releasedAt: T0 + DAY });
  });

  t.test('the same request id for releasing another license is reused', async (t) => {
    const { given } = specification(t);
    const reused = given(history)
      .when(release({ now: T0 + DAY + 5, licenseId: 'L2', requestId: 'R1' }))
      .then(requestIdReused);
    t.same(reused, { requestIdReused: true, requestId: 'R1' });
  });

  t.test('the same request id for another kind of command on the same license is reused', async (t) => {
    const { given } = specification(t);
    given(history)
      .when({ type: 'RenewLicense', now: T0 + DAY + 5, licenseId: 'L1', requestId: 'R1' })
      .then(requestIdReused);
  });

  t.test('after 24h the request id is free again', async (t) => {
    const { given } = specification(t);
    given(history)
      .when(release({ now: T0 + 2 * DAY + 1, licenseId: 'L2', requestId: 'R1' }))
      .then([licenseReleased(T0 + 2 * DAY + 1, 'L2')]);
  });

  t.test('a release done by a device deactivation does not bind the request id to a release', async (t) => {
    // The deactivation's primary event binds R2 to "deactivate d1"; its LicenseReleased events bind nothing.
    const { given } = specification(t);
    const deactivated = [
      ...held,
      ...withRequestId('R2', [
        deviceDeactivated(T0 + DAY, 'd1', ['L1', 'L2']),
        licenseReleased(T0 + DAY, 'L1', 'device-deactivated'),
        licenseReleased(T0 + DAY, 'L2', 'device-deactivated'),
      ]),
    ];
    given(deactivated)
      .when(release({ now: T0 + DAY + 1, licenseId: 'L1', requestId: 'R2' }))
      .then(requestIdReused);
    const decision = given(deactivated)
      .when({ type: 'DeactivateDevice', now: T0 + DAY + 1, deviceId: 'd1', requestId: 'R2' })
      .then(nothing);
    t.same(decision.answer, { kind: 'deactivate', deviceId: 'd1', releasedLicenseIds: ['L1', 'L2'] });
    t.equal(decision.repeated, true);
  });
});

/** RecordPlayback: given/when/then on the member decider. */
import t from 'tap';
import type { RecordPlayback } from '../../src/domain/member/commands.ts';
import type { PlaybackSession } from '../../src/domain/aggregates/license.ts';
import { DAY, T0 } from '../support/fixtures.ts';
import { acquisition, deviceDeactivated, licenseReleased, nothing, playbackRecorded, requestIdReused, specification, withRequestId } from './decider-spec.ts';

const iso = (at: number): string => new Date(at).toISOString();

function play(o: { now: number; licenseId: string; sessions: PlaybackSession[]; deviceId?: string; requestId?: string }): RecordPlayback {
  return { type: 'RecordPlayback', ...o };
}

const sessions: PlaybackSession[] = [
  { sessionId: 's1', startedAt: T0 + 1_000, durationMs: 60_000 },
  { sessionId: 's2', startedAt: T0 + 100_000, durationMs: 30_000 },
];
const held = acquisition({ at: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain' });

t.test('emits PlaybackRecorded with the sessions', async (t) => {
  const { given } = specification(t);
  const decision = given(held)
    .when(play({ now: T0 + DAY, licenseId: 'L1', sessions }))
    .then([{ type: 'PlaybackRecorded', at: T0 + DAY, licenseId: 'L1', sessions }]);
  t.same(decision.answer, { kind: 'playback', licenseId: 'L1', recorded: 2 });
});

t.test('with the right device given, and after earlier playback', async (t) => {
  const { given } = specification(t);
  const first = sessions.slice(0, 1);
  const second = sessions.slice(1);
  const decision = given([...held, playbackRecorded(T0 + 1, 'L1', first)])
    .when(play({ now: T0 + DAY, licenseId: 'L1', deviceId: 'd1', sessions: second }))
    .then([playbackRecorded(T0 + DAY, 'L1', second)]);
  t.same(decision.answer, { kind: 'playback', licenseId: 'L1', recorded: 1 });
});

t.test('sessions buffered offline arrive after the license expired: still recorded', async (t) => {
  const { given } = specification(t);
  given(held)
    .when(play({ now: T0 + 45 * DAY, licenseId: 'L1', sessions }))
    .then([playbackRecorded(T0 + 45 * DAY, 'L1', sessions)]);
});

t.test('LICENSE_RELEASED: a released license cannot be played', async (t) => {
  const { given } = specification(t);
  const refusal = given([...held, licenseReleased(T0 + DAY, 'L1')])
    .when(play({ now: T0 + 2 * DAY, licenseId: 'L1', sessions }))
    .then('LICENSE_RELEASED');
  t.same(refusal.details, { licenseId: 'L1', releasedAt: iso(T0 + DAY), cause: 'member' });
  t.match(refusal.message, /cannot be played/);

  const byDeactivation = given([...held, deviceDeactivated(T0 + DAY, 'd1', ['L1']), licenseReleased(T0 + DAY, 'L1', 'device-deactivated')])
    .when(play({ now: T0 + 2 * DAY, licenseId: 'L1', sessions }))
    .then('LICENSE_RELEASED');
  t.equal(byDeactivation.details.cause, 'device-deactivated');
});

t.test('LICENSE_NOT_FOUND', async (t) => {
  const { given } = specification(t);
  const refusal = given(held)
    .when(play({ now: T0 + DAY, licenseId: 'L2', sessions }))
    .then('LICENSE_NOT_FOUND');
  t.same(refusal.details, { licenseId: 'L2' });
});

t.test('WRONG_DEVICE', async (t) => {
  const { given } = specification(t);
  const refusal = given(held)
    .when(play({ now: T0 + DAY, licenseId: 'L1', deviceId: 'd9', sessions }))
    .then('WRONG_DEVICE');
  t.same(refusal.details, { licenseId: 'L1', deviceId: 'd9' });
});

t.test('request ids', async (t) => {
  const history = [...held, ...withRequestId('R1', [playbackRecorded(T0 + DAY, 'L1', sessions)])];

  t.test('a repeated batch within 24h is not recorded twice', async (t) => {
    const { given } = specification(t);
    const decision = given(history)
      .when(play({ now: T0 + DAY + 10, licenseId: 'L1', sessions, requestId: 'R1' }))
      .then(nothing);
    t.equal(decision.repeated, true);
    t.same(decision.answer, { kind: 'playback', licenseId: 'L1', recorded: 2 });
  });

  t.test('the same request id for a release of that license is reused', async (t) => {
    const { given } = specification(t);
    given(history)
      .when({ type: 'ReleaseLicense', now: T0 + DAY + 10, licenseId: 'L1', requestId: 'R1' })
      .then(requestIdReused);
  });

  t.test('after 24h the request id is free again', async (t) => {
    const { given } = specification(t);
    given(history)
      .when(play({ now: T0 + 2 * DAY + 1, licenseId: 'L1', sessions, requestId: 'R1' }))
      .then([playbackRecorded(T0 + 2 * DAY + 1, 'L1', sessions)]);
  });
});

/**
 * Pruning changes no decision. Random command sequences for one member over simulated years
 * (pure domain, seeded), decided twice at every step: by the state that was never pruned, and
 * by the same state pruned (domain/member/retention.ts) at arbitrary points, at its newest event
 * or later. Every answer must be the same, events, answer, refusal and its details, except the
 * documented ones: a license released before `releasedPrunedThrough` answers LICENSE_NOT_FOUND
 * (with a note saying so), and a deactivated device with no deactivation left in the year
 * answers DEVICE_NOT_FOUND; neither writes anything either way.
 *
 * Also: pruning at several points leaves what one pruning at the end leaves (what the replay
 * check relies on), and a pruning that drops what a decision needs is caught (the property can fail).
 */
import t from 'tap';
import fc from 'fast-check';
import { decide, type Decision, type RequestIdReused } from '../../src/domain/member/decide.ts';
import type { MemberCommand } from '../../src/domain/member/commands.ts';
import { pruneMemberState, pruneMemberStateThrough, retentionOfDays, type Retention } from '../../src/domain/member/retention.ts';
import { applyEvent, initialMemberState, type MemberState } from '../../src/domain/member/state.ts';
import { isRefusal, type Refusal } from '../../src/domain/refusal.ts';
import type { UnknownPlan } from '../../src/domain/rules.ts';
import { inRollingYear } from '../../src/domain/time.ts';
import { encodeMemberState } from '../../src/store/codec/snapshot-codec.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';

const DEVICES = ['d1', 'd2', 'd3', 'd4', 'd5'] as const;
const TITLES = ['strict-a', 'strict-b', 'open-a', 'plain-1', 'plain-2', 'plain-3', 'plain-4'] as const;
const PLANS = ['basic', 'standard', 'premium', 'premium'] as const;
const REQUEST_IDS = ['r1', 'r2', 'r3', 'r4'] as const;
const RETENTION_DAYS = [0, 1, 30, 400] as const;

type Prune = (state: MemberState, now: number, retention: Retention) => MemberState;

type Op =
  | { kind: 'acquire'; device: number; title: number; plan: number }
  | { kind: 'renew' | 'release' | 'playback'; license: number; device: number | null }
  | { kind: 'deactivate'; device: number }
  /** Prune the second state, at its newest event or at the clock (a snapshot, or a later one). */
  | { kind: 'prune'; atClock: boolean };
type RequestChoice = { kind: 'none' } | { kind: 'id'; id: number } | { kind: 'repeat-previous' };
interface Step {
  advance: number;
  op: Op;
  request: RequestChoice;
}
interface Run {
  retentionDays: number;
  steps: Step[];
}

const device = fc.integer({ min: 0, max: DEVICES.length - 1 });
// Any license acquired so far, however long ago (mod their count), or -1 for an unknown id.
const license = fc.integer({ min: -1, max: 200 });
const licenseOp = (kind: 'renew' | 'release' | 'playback'): fc.Arbitrary<Op> => fc.record({ kind: fc.constant(kind), license, device: fc.option(device, { nil: null, freq: 3 }) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      device,
      title: fc.integer({ min: 0, max: TITLES.length - 1 }),
      plan: fc.integer({ min: 0, max: PLANS.length - 1 }),
    }),
  },
  { weight: 3, arbitrary: licenseOp('renew') },
  { weight: 4, arbitrary: licenseOp('release') },
  { weight: 2, arbitrary: licenseOp('playback') },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deactivate' as const), device }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('prune' as const), atClock: fc.boolean() }) },
);
// Steps of hours to a year: a sequence spans months to several years.
const advanceArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: DAY }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 * DAY }) },
  { weight: 1, arbitrary: fc.integer({ min: 300 * DAY, max: 400 * DAY }) },
);
const requestArb: fc.Arbitrary<RequestChoice> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('id' as const), id: fc.integer({ min: 0, max: REQUEST_IDS.length - 1 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'repeat-previous' as const }) },
);
const runArb: fc.Arbitrary<Run> = fc.record({
  retentionDays: fc.constantFrom(...RETENTION_DAYS),
  steps: fc.array(fc.record({ advance: advanceArb, op: opArb, request: requestArb }), { minLength: 1, maxLength: 160, size: 'max' }),
});

type Outcome = Decision | Refusal | RequestIdReused | UnknownPlan;

const writesNothing = (outcome: Outcome): boolean => !('events' in outcome) || outcome.events.length === 0;

type Documented = 'pruned license' | 'pruned device';
/** The same answer, a documented answer for a pruned id, or what differs. */
type Difference = 'same' | Documented | { differs: string };

function difference(command: MemberCommand, full: MemberState, pruned: MemberState, fromFull: Outcome, fromPruned: Outcome): Difference {
  if (JSON.stringify(fromFull) === JSON.stringify(fromPruned)) return 'same';
  if (isRefusal(fromPruned) && fromPruned.reason === 'LICENSE_NOT_FOUND' && 'licenseId' in command) {
    // Unknown to both: the same answer, with the retention note.
    if (isRefusal(fromFull) && fromFull.reason === 'LICENSE_NOT_FOUND' && fromFull.details['licenseId'] === fromPruned.details['licenseId']) return 'same';
    const released = full.licenses.get(command.licenseId);
    const through = pruned.releasedPrunedThrough;
    if (released?.releasedAt != null && through !== null && released.releasedAt <= through && !pruned.licenses.has(command.licenseId) && writesNothing(fromFull))
      return 'pruned license';
  }
  if (isRefusal(fromPruned) && fromPruned.reason === 'DEVICE_NOT_FOUND' && command.type === 'DeactivateDevice') {
    const known = full.devices.get(command.deviceId);
    const counting = known?.deactivations.some((at) => inRollingYear(at, command.now)) ?? true;
    if (known?.status === 'deactivated' && !counting && writesNothing(fromFull)) return 'pruned device';
  }
  return { differs: `full state: ${JSON.stringify(fromFull)}\n  pruned state: ${JSON.stringify(fromPruned)}` };
}

/** Runs the steps on both states; the problems found (none when pruning changed no decision). */
function check(run: Run, prune: Prune, documented: Record<Documented, number> = { 'pruned license': 0, 'pruned device': 0 }): string[] {
  const rules = testRules();
  const retention = retentionOfDays(run.retentionDays);
  const full = initialMemberState();
  let pruned = initialMemberState();
  const licenseIds: string[] = [];
  const problems: string[] = [];
  let clock = T0;
  let prunedUpTo = 0;
  let previous: MemberCommand | undefined;
  for (const [index, step] of run.steps.entries()) {
    clock += step.advance;
    const op = step.op;
    if (op.kind === 'prune') {
      const now = op.atClock ? Math.max(clock, pruned.lastEventAt) : pruned.lastEventAt;
      pruned = prune(pruned, now, retention);
      prunedUpTo = Math.max(prunedUpTo, now);
      continue;
    }
    const now = Math.max(clock, full.lastEventAt);
    const licenseOf = (ref: number): string => (ref < 0 || licenseIds.length === 0 ? 'L-unknown' : (licenseIds[ref % licenseIds.length] ?? 'L-unknown'));
    const deviceOf = (ref: number | null): string | undefined => (ref === null ? undefined : DEVICES[ref]);
    let command: MemberCommand;
    if (step.request.kind === 'repeat-previous' && previous?.requestId !== undefined) {
      command = previous.type === 'AcquireLicense' ? { ...previous, now, licenseId: `L${index}` } : { ...previous, now };
    } else {
      const requestId = step.request.kind === 'id' ? REQUEST_IDS[step.request.id] : undefined;
      if (op.kind === 'acquire') {
        command = {
          type: 'AcquireLicense',
          now,
          licenseId: `L${index}`,
          deviceId: DEVICES[op.device] ?? 'd1',
          titleId: TITLES[op.title] ?? 'plain-1',
          plan: PLANS[op.plan],
          requestId,
        };
      } else if (op.kind === 'deactivate') {
        command = { type: 'DeactivateDevice', now, deviceId: DEVICES[op.device] ?? 'd1', requestId };
      } else if (op.kind === 'playback') {
        const sessions = [{ sessionId: `s${index}`, startedAt: now - 60_000, durationMs: 60_000 }];
        command = { type: 'RecordPlayback', now, licenseId: licenseOf(op.license), deviceId: deviceOf(op.device), sessions, requestId };
      } else {
        command = { type: op.kind === 'renew' ? 'RenewLicense' : 'ReleaseLicense', now, licenseId: licenseOf(op.license), deviceId: deviceOf(op.device), requestId };
      }
    }
    previous = command;
    const fromFull = decide(command, full, rules);
    const fromPruned = decide(command, pruned, rules);
    const differs = difference(command, full, pruned, fromFull, fromPruned);
    if (differs === 'pruned license' || differs === 'pruned device') documented[differs] += 1;
    else if (differs !== 'same') {
      problems.push(`step ${index} ${JSON.stringify(command)}:\n  ${differs.differs}`);
      break;
    }
    if (!('events' in fromFull)) continue;
    const metadata = { rulesVersion: rules.version, requestId: command.requestId };
    for (const event of fromFull.events) {
      applyEvent(full, event, metadata);
      applyEvent(pruned, event, metadata);
    }
    if (fromFull.answer.kind === 'acquire' && !fromFull.repeated) licenseIds.push(fromFull.answer.licenseId);
  }
  // Pruned here and there, or once at the end: the same state (the replay check relies on it).
  const through = pruned.releasedPrunedThrough;
  if (problems.length === 0 && through !== null) {
    const at = Math.max(prunedUpTo, full.lastEventAt);
    const once = encodeMemberState(pruneMemberStateThrough(full, at, through));
    const piecewise = encodeMemberState(pruneMemberStateThrough(pruned, at, through));
    if (once !== piecewise) problems.push(`pruned piecewise differs from pruned once:\n  once:      ${once}\n  piecewise: ${piecewise}`);
  }
  return problems;
}

const NUM_RUNS = Number(process.env['PROPERTY_RUNS'] ?? 300);
const SEED = Number(process.env['PROPERTY_SEED'] ?? 20_13_01);

function describeRun(run: Run): string {
  return (
    `retention ${run.retentionDays} days\n` + run.steps.map((s, i) => `${i}: +${(s.advance / DAY).toFixed(3)}d ${JSON.stringify(s.op)} ${JSON.stringify(s.request)}`).join('\n')
  );
}

t.test('a state pruned at arbitrary points decides every command as the unpruned one', async (t) => {
  const coverage = { prunes: 0, years: 0 };
  const documented = { 'pruned license': 0, 'pruned device': 0 };
  let failure = '';
  const result = fc.check(
    fc.property(runArb, (run) => {
      const problems = check(run, pruneMemberState, documented);
      if (problems.length > 0) failure = `${problems.join('\n')}\n${describeRun(run)}`;
      coverage.prunes += run.steps.filter((s) => s.op.kind === 'prune').length;
      coverage.years = Math.max(coverage.years, run.steps.reduce((sum, s) => sum + s.advance, 0) / (365 * DAY));
      return problems.length === 0;
    }),
    { numRuns: NUM_RUNS, seed: SEED },
  );
  t.notOk(result.failed, `pruning changed a decision (seed ${SEED}): ${failure}`);
  t.comment(`${NUM_RUNS} sequences, ${coverage.prunes} prunes, longest ${coverage.years.toFixed(1)} simulated years, documented answers ${JSON.stringify(documented)}`);
  t.ok(documented['pruned license'] > 0, 'some command named a pruned license');
});

t.test('the documented answers for pruned ids', async (t) => {
  const rules = testRules();
  const state = initialMemberState();
  const apply = (outcome: Outcome): Decision => {
    if (!('events' in outcome)) throw new Error(`expected a decision, got ${JSON.stringify(outcome)}`);
    for (const event of outcome.events) applyEvent(state, event, { rulesVersion: rules.version });
    return outcome;
  };
  apply(decide({ type: 'AcquireLicense', now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain-1' }, state, rules));
  apply(decide({ type: 'ReleaseLicense', now: T0 + DAY, licenseId: 'L1' }, state, rules));
  apply(decide({ type: 'AcquireLicense', now: T0 + DAY, licenseId: 'L2', deviceId: 'd2', titleId: 'plain-2' }, state, rules));
  apply(decide({ type: 'DeactivateDevice', now: T0 + 2 * DAY, deviceId: 'd2' }, state, rules));
  // A year and a day later, one more acquire: then a snapshot prunes at it.
  const later = T0 + 368 * DAY;
  apply(decide({ type: 'AcquireLicense', now: later, licenseId: 'L3', deviceId: 'd1', titleId: 'plain-1' }, state, rules));
  const pruned = pruneMemberState(state, state.lastEventAt, retentionOfDays(30));
  t.same([...pruned.licenses.keys()], ['L3'], 'L1 (released a year ago) and L2 (released by the deactivation) left');
  t.same([...pruned.devices.keys()], ['d1'], 'd2 (deactivated a year ago, no download since) left');
  t.same([...pruned.downloaded.keys()], ['plain-1'], 'plain-2 has no download in the year');

  const renew = { type: 'RenewLicense', now: later, licenseId: 'L1' } as const;
  t.match(decide(renew, state, rules), { reason: 'LICENSE_RELEASED' }, 'unpruned: released');
  const notFound = decide(renew, pruned, rules);
  // Dropped through the newest release that left: L2's, by the deactivation.
  t.match(notFound, { reason: 'LICENSE_NOT_FOUND', details: { licenseId: 'L1', releasedLicensesKeptAfter: new Date(T0 + 2 * DAY).toISOString() } }, 'pruned: not found');
  t.match((notFound as Refusal).message, /released at or before .* is no longer kept/, 'the message says why');
  t.match(
    decide({ type: 'ReleaseLicense', now: later, licenseId: 'L1' }, state, rules),
    { events: [], answer: { kind: 'release', releasedAt: T0 + DAY } },
    'unpruned: the first release again',
  );
  t.match(decide({ type: 'ReleaseLicense', now: later, licenseId: 'L1' }, pruned, rules), { reason: 'LICENSE_NOT_FOUND' }, 'pruned: not found');
  t.match(decide({ type: 'DeactivateDevice', now: later, deviceId: 'd2' }, state, rules), { events: [], answer: { releasedLicenseIds: [] } }, 'unpruned: nothing to do');
  t.match(decide({ type: 'DeactivateDevice', now: later, deviceId: 'd2' }, pruned, rules), { reason: 'DEVICE_NOT_FOUND' }, 'pruned: not found');
  // An acquire on the pruned device registers it exactly as on the unpruned one.
  const acquire = { type: 'AcquireLicense', now: later, licenseId: 'L4', deviceId: 'd2', titleId: 'plain-2' } as const;
  t.same(decide(acquire, pruned, rules), decide(acquire, state, rules), 'same events, same answer');
});

t.test('the property fails for a pruning that drops what a decision needs', async (t) => {
  const broken: Record<string, Prune> = {
    // Windows one day short: request ids, downloads and deactivations leave a day early.
    'windows a day short': (state, now, retention) => pruneMemberState(state, now + DAY, retention),
    // Released licenses dropped whatever the retention, the note still naming the retention.
    'released licenses dropped at once': (state, now, retention) => {
      const pruned = pruneMemberState(state, now, retention);
      return { ...pruned, licenses: pruned.licenses.filter((l) => l.releasedAt === null) };
    },
    // An active license dropped.
    'an active license dropped': (state, now, retention) => {
      const pruned = pruneMemberState(state, now, retention);
      const first = [...pruned.licenses.values()].find((l) => l.releasedAt === null);
      return first === undefined ? pruned : { ...pruned, licenses: pruned.licenses.filter((l) => l !== first) };
    },
  };
  for (const [name, prune] of Object.entries(broken)) {
    const result = fc.check(
      fc.property(runArb, (run) => check(run, prune).length === 0),
      { numRuns: NUM_RUNS, seed: SEED },
    );
    t.ok(result.failed, `caught: ${name}`);
  }
});

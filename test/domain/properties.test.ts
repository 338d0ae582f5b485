/**
 * Property tests: random command sequences for one member, decided by the real decider and
 * stored through a real MemberRepository on an in-memory SQLite store (mirroring what
 * LicenseService does, including `now = max(clock, lastEventAt)`).
 *
 * (a) the in-memory state equals the state loaded fresh from the store;
 * (b) no sequence ever takes the member over a limit, and released licenses never move again;
 * (c) snapshot + tail replay equals a full replay of every generation from scratch, pruned
 *     (domain/member/retention.ts) where each snapshot was taken.
 */
import t from 'tap';
import fc from 'fast-check';
import type { DomainEvent } from '../../src/domain/events.ts';
import { decide } from '../../src/domain/member/decide.ts';
import { fingerprintOfCommand, type MemberCommand } from '../../src/domain/member/commands.ts';
import type { CommandAnswer } from '../../src/domain/member/answers.ts';
import { DEFAULT_RETENTION, pruneMemberState } from '../../src/domain/member/retention.ts';
import { applyEvent, initialMemberState, type MemberState } from '../../src/domain/member/state.ts';
import { isRefusal } from '../../src/domain/refusal.ts';
import { planRules, titlePolicy, type Rules } from '../../src/domain/rules.ts';
import { MemberRepository, type LoadedMember, type SnapshotThresholds } from '../../src/service/member-repository.ts';
import { decodeEvent, metadataOf } from '../../src/store/codec/event-codec.ts';
import { encodeMemberState } from '../../src/store/codec/snapshot-codec.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import type { EventStore } from '../../src/store/event-store.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';

const YEAR = 365 * DAY;
const MEMBER = 'member-1';
const DEVICES = ['d1', 'd2', 'd3', 'd4'] as const;
// Two strict-studio titles (yearly 2, 2 at once, 1 renewal that counts), an open-studio title
// (no yearly limit), and two uncatalogued titles (defaults: yearly 3).
const TITLES = ['strict-a', 'strict-b', 'open-a', 'plain-1', 'plain-2'] as const;
const PLANS = [undefined, 'basic', 'standard', 'premium'] as const;
const REQUEST_IDS = ['r1', 'r2', 'r3'] as const;

const SNAPSHOTTING: SnapshotThresholds = { eventCount: 5, replayMs: 1_000_000 };
const NO_SNAPSHOTS: SnapshotThresholds = { eventCount: Number.MAX_SAFE_INTEGER, replayMs: Number.POSITIVE_INFINITY };

type Op =
  | { kind: 'acquire'; device: number; title: number; plan: number }
  | { kind: 'renew'; license: number; device: number | null }
  | { kind: 'release'; license: number; device: number | null }
  | { kind: 'playback'; license: number; device: number | null; sessions: number }
  | { kind: 'deactivate'; device: number }
  /** Drop the in-memory member and load it again from the store (an LRU eviction). */
  | { kind: 'reload' };

type RequestChoice = { kind: 'none' } | { kind: 'id'; id: number } | { kind: 'repeat-previous' };

interface Step {
  advance: number;
  op: Op;
  request: RequestChoice;
}

const deviceArb = fc.integer({ min: 0, max: DEVICES.length - 1 });
// A license reference: an index into the licenses acquired so far (mod their count), or -1 for an unknown id.
const licenseArb = fc.integer({ min: -1, max: 30 });
const optionalDeviceArb = fc.option(deviceArb, { nil: null, freq: 2 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      device: deviceArb,
      title: fc.integer({ min: 0, max: TITLES.length - 1 }),
      plan: fc.integer({ min: 0, max: PLANS.length - 1 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('renew' as const), license: licenseArb, device: optionalDeviceArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), license: licenseArb, device: optionalDeviceArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('playback' as const), license: licenseArb, device: optionalDeviceArb, sessions: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deactivate' as const), device: deviceArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
);

const advanceArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 2 * DAY }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 200 * DAY }) },
);

const requestArb: fc.Arbitrary<RequestChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('id' as const), id: fc.integer({ min: 0, max: REQUEST_IDS.length - 1 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'repeat-previous' as const }) },
);

const stepsArb = fc.array(fc.record({ advance: advanceArb, op: opArb, request: requestArb }), { minLength: 1, maxLength: 40, size: 'max' });

// ---- an independent model of what the events say, to check the limits against ----

interface ModelLicense {
  deviceId: string;
  titleId: string;
  studioId: string | null;
  active: boolean;
  renewals: number;
}

class Model {
  readonly licenses = new Map<string, ModelLicense>();
  readonly downloads = new Map<string, number[]>();
  readonly deactivations: number[] = [];
  /** request id -> the answer of the command that first used it, with its time and fingerprint. */
  readonly requests = new Map<string, { at: number; fingerprint: string; answer: CommandAnswer }>();

  active(): [string, ModelLicense][] {
    return [...this.licenses].filter(([, l]) => l.active);
  }

  /** Applies a decision's events, failing on any transition the lifecycle forbids. */
  apply(events: readonly DomainEvent[]): string[] {
    const problems: string[] = [];
    for (const event of events) {
      switch (event.type) {
        case 'LicenseAcquired':
          if (this.licenses.has(event.licenseId)) problems.push(`license ${event.licenseId} acquired twice`);
          this.licenses.set(event.licenseId, { deviceId: event.deviceId, titleId: event.titleId, studioId: event.studioId, active: true, renewals: 0 });
          break;
        case 'LicenseRenewed':
        case 'PlaybackRecorded':
        case 'LicenseReleased': {
          const license = this.licenses.get(event.licenseId);
          if (!license) {
            problems.push(`${event.type} for unknown license ${event.licenseId}`);
            break;
          }
          if (!license.active) problems.push(`${event.type} for released license ${event.licenseId}`);
          if (event.type === 'LicenseRenewed') {
            license.renewals += 1;
            if (event.renewals !== license.renewals) problems.push(`renewal count ${event.renewals} != ${license.renewals}`);
          }
          if (event.type === 'LicenseReleased') license.active = false;
          break;
        }
        case 'TitleDownloaded': {
          const list = this.downloads.get(event.titleId) ?? [];
          list.push(event.at);
          this.downloads.set(event.titleId, list);
          break;
        }
        case 'DeviceDeactivated':
          this.deactivations.push(event.at);
          break;
        case 'DeviceRegistered':
          break;
      }
    }
    return problems;
  }

  /** Every limit that must hold after any command, at `now`. */
  limitViolations(rules: Rules, now: number): string[] {
    const problems: string[] = [];
    const active = this.active();
    const perDevice = new Map<string, number>();
    const perStudio = new Map<string, number>();
    for (const [, l] of active) {
      perDevice.set(l.deviceId, (perDevice.get(l.deviceId) ?? 0) + 1);
      if (l.studioId !== null) perStudio.set(l.studioId, (perStudio.get(l.studioId) ?? 0) + 1);
    }
    const perDeviceLimit = rules.maxActiveDownloadsPerDevice;
    for (const [deviceId, n] of perDevice) {
      if (perDeviceLimit !== null && n > perDeviceLimit) problems.push(`device ${deviceId} holds ${n} > ${perDeviceLimit}`);
    }
    for (const [studioId, n] of perStudio) {
      const studioLimit = rules.studios[studioId]?.maxActiveDownloadsPerStudio;
      const limit = studioLimit !== undefined ? studioLimit : rules.defaults.maxActiveDownloadsPerStudio;
      if (limit !== null && n > limit) problems.push(`studio ${studioId} has ${n} active > ${limit}`);
    }
    for (const [titleId, times] of this.downloads) {
      const limit = titlePolicy(rules, titleId).yearlyTitleLimit;
      const inYear = times.filter((at) => at > now - YEAR && at <= now).length;
      if (limit !== null && inYear > limit) problems.push(`title ${titleId} downloaded ${inYear} times in the year > ${limit}`);
    }
    const deactivationLimit = rules.maxDeviceDeactivationsPerYear;
    const deactivationsInYear = this.deactivations.filter((at) => at > now - YEAR && at <= now).length;
    if (deactivationLimit !== null && deactivationsInYear > deactivationLimit) {
      problems.push(`${deactivationsInYear} deactivations in the year > ${deactivationLimit}`);
    }
    for (const [licenseId, l] of this.licenses) {
      const max = titlePolicy(rules, l.titleId).maxRenewals;
      if (max !== null && l.renewals > max) problems.push(`license ${licenseId} renewed ${l.renewals} times > ${max}`);
    }
    return problems;
  }

  devicesHoldingDownloads(): number {
    return new Set(this.active().map(([, l]) => l.deviceId)).size;
  }
}

// ---- running a sequence ----

interface RunResult {
  store: EventStore;
  member: LoadedMember;
  problems: string[];
  snapshotErrors: unknown[];
  repeats: number;
  refusals: Set<string>;
}

async function reloadedEncoding(store: EventStore, thresholds: SnapshotThresholds): Promise<string> {
  const fresh = await new MemberRepository(store, thresholds).load(MEMBER);
  return encodeMemberState(fresh.state);
}

/**
 * Folds every event of every generation from the initial state: the authoritative full replay,
 * pruned at the end of each generation, where a snapshot sealed it.
 */
async function fullReplay(store: EventStore): Promise<MemberState> {
  const head = await store.readHead(MEMBER);
  let state = initialMemberState();
  for (let generation = 0; generation <= head.generation; generation++) {
    if (generation > 0) state = pruneMemberState(state, state.lastEventAt, DEFAULT_RETENTION);
    for await (const row of store.readGeneration(MEMBER, generation)) applyEvent(state, decodeEvent(row), metadataOf(row));
  }
  return state;
}

async function runSequence(steps: readonly Step[], thresholds: SnapshotThresholds): Promise<RunResult> {
  const rules = testRules();
  const store = new SqliteEventStore(':memory:');
  const snapshotErrors: unknown[] = [];
  const repository = new MemberRepository(store, thresholds, (_id, error) => snapshotErrors.push(error));
  let member = await repository.load(MEMBER);
  const model = new Model();
  const problems: string[] = [];
  const refusals = new Set<string>();
  const licenseIds: string[] = [];
  let clock = T0;
  let nextLicense = 0;
  let repeats = 0;
  let previous: MemberCommand | undefined;

  for (const [index, step] of steps.entries()) {
    clock += step.advance;
    const where = `step ${index} (${step.op.kind})`;
    if (step.op.kind === 'reload') {
      const before = encodeMemberState(member.state);
      member = await repository.load(MEMBER);
      const after = encodeMemberState(member.state);
      if (before !== after) problems.push(`${where}: reloaded state differs from the in-memory one`);
      continue;
    }
    const now = Math.max(clock, member.state.lastEventAt);
    const op = step.op;
    const license = (ref: number): string => (ref < 0 || licenseIds.length === 0 ? 'L-unknown' : (licenseIds[ref % licenseIds.length] ?? 'L-unknown'));
    const device = (ref: number | null): string | undefined => (ref === null ? undefined : DEVICES[ref]);
    let command: MemberCommand;
    if (step.request.kind === 'repeat-previous' && previous !== undefined && previous.requestId !== undefined) {
      // A client retry: the same command with the same request id (a new license id is minted for an acquire).
      command = previous.type === 'AcquireLicense' ? { ...previous, now, licenseId: `L${String(nextLicense++).padStart(3, '0')}` } : { ...previous, now };
    } else {
      const requestId = step.request.kind === 'id' ? REQUEST_IDS[step.request.id] : undefined;
      switch (op.kind) {
        case 'acquire':
          command = {
            type: 'AcquireLicense',
            now,
            licenseId: `L${String(nextLicense++).padStart(3, '0')}`,
            deviceId: DEVICES[op.device] ?? 'd1',
            titleId: TITLES[op.title] ?? 'plain-1',
            plan: PLANS[op.plan],
            requestId,
          };
          break;
        case 'renew':
          command = { type: 'RenewLicense', now, licenseId: license(op.license), deviceId: device(op.device), requestId };
          break;
        case 'release':
          command = { type: 'ReleaseLicense', now, licenseId: license(op.license), deviceId: device(op.device), requestId };
          break;
        case 'playback':
          command = {
            type: 'RecordPlayback',
            now,
            licenseId: license(op.license),
            deviceId: device(op.device),
            requestId,
            sessions: Array.from({ length: op.sessions }, (_, i) => ({ sessionId: `s${index}-${i}`, startedAt: now - 1000 * (i + 1), durationMs: 1000 * (i + 1) })),
          };
          break;
        case 'deactivate':
          command = { type: 'DeactivateDevice', now, deviceId: DEVICES[op.device] ?? 'd1', requestId };
          break;
      }
    }
    previous = command;

    const decision = decide(command, member.state, rules);

    // What the request-id model expects.
    const earlier = command.requestId === undefined ? undefined : model.requests.get(command.requestId);
    const live = earlier !== undefined && earlier.at > now - DAY;
    const expectReused = live && earlier.fingerprint !== fingerprintOfCommand(command);
    const expectRepeat = live && !expectReused;

    if (isRefusal(decision)) {
      refusals.add(decision.reason);
      if (expectRepeat || expectReused) problems.push(`${where}: refused ${decision.reason} but the request id ${command.requestId} was live`);
      continue;
    }
    if ('unknownPlan' in decision) {
      problems.push(`${where}: plan ${decision.plan} reported unknown, but every generated plan is in the rules`);
      continue;
    }
    if ('requestIdReused' in decision) {
      if (!expectReused) problems.push(`${where}: request id ${command.requestId} reported reused unexpectedly`);
      continue;
    }
    if (expectReused) problems.push(`${where}: request id ${command.requestId} reused for a different command but accepted`);
    if (decision.repeated) {
      repeats += 1;
      if (!expectRepeat) problems.push(`${where}: repeated answer without a live request id`);
      if (decision.events.length !== 0) problems.push(`${where}: a repeated request wrote events`);
      if (earlier && JSON.stringify(decision.answer) !== JSON.stringify(earlier.answer)) problems.push(`${where}: repeat answered differently from the first time`);
    } else if (expectRepeat) {
      problems.push(`${where}: request id ${command.requestId} was live but the command was decided again`);
    }
    for (const event of decision.events) {
      if (event.at !== now) problems.push(`${where}: event ${event.type} stamped ${event.at}, not the decision time ${now}`);
    }

    await repository.append(member, decision.events, { rulesVersion: rules.version, requestId: command.requestId });

    problems.push(...model.apply(decision.events).map((p) => `${where}: ${p}`));
    if (command.requestId !== undefined && decision.events.length > 0 && !decision.repeated) {
      model.requests.set(command.requestId, { at: now, fingerprint: fingerprintOfCommand(command), answer: decision.answer });
    }
    if (decision.answer.kind === 'acquire') {
      if (!decision.repeated) licenseIds.push(decision.answer.licenseId);
      if (command.type === 'AcquireLicense' && !decision.repeated) {
        const limit = planRules(rules, command.plan)?.limits.maxDownloadDevices ?? null;
        const holding = model.devicesHoldingDownloads();
        if (limit !== null && holding > limit) problems.push(`${where}: ${holding} devices hold downloads after an acquire on plan ${command.plan ?? 'default'} (limit ${limit})`);
      }
    }
    problems.push(...model.limitViolations(rules, now).map((p) => `${where}: ${p}`));
  }
  return { store, member, problems, snapshotErrors, repeats, refusals };
}

function describeSteps(steps: readonly Step[]): string {
  return steps.map((s, i) => `${i}: +${(s.advance / DAY).toFixed(3)}d ${JSON.stringify(s.op)} ${JSON.stringify(s.request)}`).join('\n');
}

// ---- the properties ----

const NUM_RUNS = Number(process.env['PROPERTY_RUNS'] ?? 150);
const coverage = { repeats: 0, snapshotsTaken: 0, refusals: new Map<string, number>() };

for (const [label, thresholds] of [
  ['snapshots every 5 events', SNAPSHOTTING],
  ['no snapshots', NO_SNAPSHOTS],
] as const) {
  t.test(`random command sequences (${label})`, async (t) => {
    let failure: string | undefined;
    await fc
      .assert(
        fc.asyncProperty(stepsArb, async (steps) => {
          const run = await runSequence(steps, thresholds);
          try {
            coverage.repeats += run.repeats;
            for (const reason of run.refusals) coverage.refusals.set(reason, (coverage.refusals.get(reason) ?? 0) + 1);
            const head = await run.store.readHead(MEMBER);
            if (head.generation > 0) coverage.snapshotsTaken += 1;
            const problems = [...run.problems];
            if (run.snapshotErrors.length > 0) problems.push(`snapshot errors: ${run.snapshotErrors.map(String).join('; ')}`);

            const inMemory = encodeMemberState(run.member.state);
            // (a) a fresh load (from the latest snapshot and its tail) equals the in-memory state,
            // with the same thresholds and with a repository that never snapshots.
            const reloaded = await reloadedEncoding(run.store, thresholds);
            if (reloaded !== inMemory) problems.push(`(a) fresh load differs from in-memory state:\n  memory: ${inMemory}\n  loaded: ${reloaded}`);
            const reloadedPlain = await reloadedEncoding(run.store, NO_SNAPSHOTS);
            if (reloadedPlain !== inMemory) problems.push(`(a) fresh load (no snapshot writes) differs from in-memory state`);
            // (c) snapshot + tail equals a full replay of every generation from scratch.
            const replayed = encodeMemberState(await fullReplay(run.store));
            if (replayed !== reloaded) problems.push(`(c) snapshot + tail differs from full replay:\n  snapshot+tail: ${reloaded}\n  full replay:   ${replayed}`);
            if (replayed !== inMemory) problems.push(`(c) full replay differs from in-memory state`);

            if (problems.length > 0) {
              failure = `${problems.join('\n')}\nsteps:\n${describeSteps(steps)}`;
              return false;
            }
            return true;
          } finally {
            await run.store.close();
          }
        }),
        { numRuns: NUM_RUNS },
      )
      .catch((error: unknown) => {
        t.fail(`property failed: ${(error as Error).message.split('\n').slice(0, 3).join(' ')}\n${failure ?? ''}`);
      });
    t.pass(`${NUM_RUNS} sequences checked`);
  });
}

t.test('regressions found by these properties', async (t) => {
  const acquireStep = (device: number, title: number, plan: number, request: RequestChoice = { kind: 'none' }, advance = 0): Step => ({
    advance,
    op: { kind: 'acquire', device, title, plan },
    request,
  });

  t.test('an acquire on a device already holding downloads, on a plan the member is already over', async (t) => {
    // standard (2 devices): d2 and d1 hold downloads; then a basic-plan acquire on d1.
    const run = await runSequence([acquireStep(1, 0, 0), acquireStep(0, 0, 0), acquireStep(0, 2, 1)], NO_SNAPSHOTS);
    t.teardown(() => run.store.close());
    t.same(run.problems, []);
    t.ok(run.refusals.has('DEVICE_LIMIT'), 'the third acquire is refused');
    t.equal(run.member.state.licenses.size, 2);
  });

  t.test('a request id reused after its window by a command on an aggregate that replays first', async (t) => {
    for (const thresholds of [NO_SNAPSHOTS, SNAPSHOTTING]) {
      const run = await runSequence(
        [
          acquireStep(1, 0, 0), // L000 on d2
          acquireStep(0, 1, 0, { kind: 'id', id: 1 }), // L001 on d1 with r2, at T0
          { advance: DAY, op: { kind: 'renew', license: 0, device: null }, request: { kind: 'id', id: 1 } }, // renew L000 with r2, at T0 + 1 day
        ],
        thresholds,
      );
      t.teardown(() => run.store.close());
      t.same(run.problems, []);
      const inMemory = encodeMemberState(run.member.state);
      t.match(inMemory, /"requestId":"r2","at":\d+,"answer":\{"kind":"renew","licenseId":"L000"/, 'memory binds r2 to the renewal');
      t.equal(await reloadedEncoding(run.store, NO_SNAPSHOTS), inMemory, 'a reload binds it the same way');
      // A retry of the renewal right after the reload is answered, not renewed twice.
      const reloaded = await new MemberRepository(run.store, NO_SNAPSHOTS).load(MEMBER);
      const retry = decide({ type: 'RenewLicense', now: T0 + DAY + 1, licenseId: 'L000', requestId: 'r2' }, reloaded.state, testRules());
      t.match(retry, { repeated: true, events: [], answer: { kind: 'renew', licenseId: 'L000', renewals: 1 } });
    }
  });
});

t.test('the generators reach the interesting cases', async (t) => {
  t.comment(`coverage: ${JSON.stringify({ repeats: coverage.repeats, snapshotsTaken: coverage.snapshotsTaken, refusals: Object.fromEntries([...coverage.refusals].sort()) })}`);
  t.ok(coverage.repeats > 0, `repeated request ids were answered from memory (${coverage.repeats})`);
  t.ok(coverage.snapshotsTaken > 0, `snapshots were taken (${coverage.snapshotsTaken} runs)`);
  for (const reason of [
    'DEVICE_LIMIT',
    'STUDIO_LIMIT',
    'YEARLY_TITLE_LIMIT',
    'LICENSE_RELEASED',
    'RENEWAL_LIMIT',
    'LICENSE_NOT_FOUND',
    'WRONG_DEVICE',
    'DEACTIVATION_LIMIT',
    'DEVICE_NOT_FOUND',
  ]) {
    t.ok(coverage.refusals.has(reason), `some sequence was refused with ${reason}`);
  }
});

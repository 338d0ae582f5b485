/**
 * The member decider: turns a command into events or a refusal, reading the member's
 * aggregates and the rules in force. The limits (limits/) are evaluated here, one module per
 * limit; each aggregate's own decider guards its lifecycle. Pure: no I/O, no clock, no randomness.
 */
import { decideLicense } from '../aggregates/license.ts';
import { decideDownloaded } from '../aggregates/downloaded.ts';
import { decideDevice } from '../aggregates/device.ts';
import type { DomainEvent } from '../events.ts';
import { evaluateLimits, firstRefusal, type Evaluation } from '../limits/index.ts';
import type { Policy } from '../limits/limit-rule.ts';
import { isRefusal, refuse, type Refusal } from '../refusal.ts';
import { isUnknownPlan, resolvePlan, titlePolicy, type Rules, type UnknownPlan } from '../rules.ts';
import { fingerprintOfAnswer, type CommandAnswer } from './answers.ts';
import { fingerprintOfCommand, type AcquireLicense, type DeactivateDevice, type MemberCommand, type RecordPlayback, type ReleaseLicense, type RenewLicense } from './commands.ts';
import { activeLicenses, type MemberState } from './state.ts';
import { iso } from '../time.ts';

export interface Decision {
  events: DomainEvent[];
  answer: CommandAnswer;
  /** True when the answer is the stored one of an earlier command with the same request id. */
  repeated: boolean;
}

/** A request id already used, within the window, for a different command. */
export interface RequestIdReused {
  requestIdReused: true;
  requestId: string;
}

export function decide(command: MemberCommand, state: MemberState, rules: Rules): Decision | Refusal | RequestIdReused | UnknownPlan {
  // An unknown plan is bad input, answered as such even for a request id seen before.
  if (command.type === 'AcquireLicense') {
    const plan = resolvePlan(rules, command.plan);
    if (isUnknownPlan(plan)) return plan;
  }
  if (command.requestId !== undefined) {
    const earlier = state.requests.live(command.requestId, command.now);
    if (earlier !== undefined) {
      if (fingerprintOfAnswer(earlier.answer) !== fingerprintOfCommand(command)) return { requestIdReused: true, requestId: command.requestId };
      return { events: [], answer: earlier.answer, repeated: true };
    }
  }
  switch (command.type) {
    case 'AcquireLicense':
      return decideAcquire(command, state, rules);
    case 'RenewLicense':
      return decideRenew(command, state, rules);
    case 'ReleaseLicense':
      return decideRelease(command, state);
    case 'RecordPlayback':
      return decidePlayback(command, state);
    case 'DeactivateDevice':
      return decideDeactivate(command, state, rules);
  }
}

/** The limits of an acquire, evaluated: what `decideAcquire` refuses from and the debug explanation shows. */
export interface AcquireEvaluation {
  policy: Policy & { plan: NonNullable<Policy['plan']>; title: NonNullable<Policy['title']> };
  evaluations: Evaluation[];
}

export function evaluateAcquire(command: AcquireLicense, state: MemberState, rules: Rules): AcquireEvaluation | UnknownPlan {
  const plan = resolvePlan(rules, command.plan);
  if (isUnknownPlan(plan)) return plan;
  const policy = { rules, plan, title: titlePolicy(rules, command.titleId) };
  return { policy, evaluations: evaluateLimits(state, command, policy) };
}

export function decideAcquire(command: AcquireLicense, state: MemberState, rules: Rules): Decision | Refusal | UnknownPlan {
  const { now, deviceId, titleId } = command;
  const evaluated = evaluateAcquire(command, state, rules);
  if (isUnknownPlan(evaluated)) return evaluated;
  const refusal = firstRefusal(evaluated.evaluations);
  if (refusal !== null) return refusal;
  const policy = evaluated.policy.title;
  const counted = decideDownloaded({ type: 'CountDownload', now, titleId, licenseId: command.licenseId, deviceId, via: 'acquire' });
  const created = decideLicense(
    {
      type: 'CreateLicense',
      now,
      licenseId: command.licenseId,
      deviceId,
      titleId,
      studioId: policy.studioId,
      licenseWindowDays: policy.licenseWindowDays,
    },
    null,
  );
  if (isRefusal(created)) return created;
  const registered = decideDevice({ type: 'RegisterDevice', now, deviceId }, state.devices.get(deviceId) ?? null);
  if (isRefusal(registered)) return registered;
  const acquired = created[0];
  if (acquired?.type !== 'LicenseAcquired') throw new Error('CreateLicense must yield LicenseAcquired');
  return {
    events: [...created, ...counted, ...registered],
    answer: {
      kind: 'acquire',
      licenseId: acquired.licenseId,
      deviceId,
      titleId,
      studioId: policy.studioId,
      expiresAt: acquired.expiresAt,
      rulesVersion: rules.version,
    },
    repeated: false,
  };
}

function decideRenew(command: RenewLicense, state: MemberState, rules: Rules): Decision | Refusal {
  const license = state.licenses.get(command.licenseId) ?? null;
  const title = titlePolicy(rules, license?.titleId ?? '');
  // The lifecycle first (unknown, another device's, released), then the limits.
  const renewed = decideLicense(
    { type: 'RenewLicense', now: command.now, licenseId: command.licenseId, deviceId: command.deviceId, licenseWindowDays: title.licenseWindowDays },
    license,
  );
  if (isRefusal(renewed)) return withRetentionNote(renewed, state);
  const event = renewed[0];
  if (license === null || event?.type !== 'LicenseRenewed') throw new Error('RenewLicense must yield LicenseRenewed');
  const refusal = firstRefusal(evaluateLimits(state, command, { rules, plan: null, title }));
  if (refusal !== null) return refusal;
  const events: DomainEvent[] = [...renewed];
  if (title.renewalCountsTowardYearlyLimit) {
    const { titleId, licenseId, deviceId } = license;
    events.push(...decideDownloaded({ type: 'CountDownload', now: command.now, titleId, licenseId, deviceId, via: 'renew' }));
  }
  return {
    events,
    answer: { kind: 'renew', licenseId: license.licenseId, expiresAt: event.expiresAt, renewals: event.renewals },
    repeated: false,
  };
}

function decideRelease(command: ReleaseLicense, state: MemberState): Decision | Refusal {
  const license = state.licenses.get(command.licenseId) ?? null;
  const released = decideLicense({ type: 'ReleaseLicense', now: command.now, licenseId: command.licenseId, deviceId: command.deviceId, cause: 'member' }, license);
  if (isRefusal(released)) return withRetentionNote(released, state);
  const releasedAt = released[0]?.at ?? license?.releasedAt ?? command.now;
  return { events: released, answer: { kind: 'release', licenseId: command.licenseId, releasedAt }, repeated: false };
}

function decidePlayback(command: RecordPlayback, state: MemberState): Decision | Refusal {
  const recorded = decideLicense(
    { type: 'RecordPlayback', now: command.now, licenseId: command.licenseId, deviceId: command.deviceId, sessions: command.sessions },
    state.licenses.get(command.licenseId) ?? null,
  );
  if (isRefusal(recorded)) return withRetentionNote(recorded, state);
  return { events: recorded, answer: { kind: 'playback', licenseId: command.licenseId, recorded: command.sessions.length }, repeated: false };
}

/**
 * A license released long ago has left the member's state (retention.ts) and is answered as
 * unknown: the answer says since when released licenses are no longer kept.
 */
function withRetentionNote(refusal: Refusal, state: MemberState): Refusal {
  const through = state.releasedPrunedThrough;
  if (refusal.reason !== 'LICENSE_NOT_FOUND' || through === null || through < 0) return refusal;
  return refuse(
    'LICENSE_NOT_FOUND',
    `${refusal.message} A license released at or before ${iso(through)} is no longer kept with the member's licenses; the member's history (debug API) still shows it.`,
    { ...refusal.details, releasedLicensesKeptAfter: iso(through) },
  );
}

function decideDeactivate(command: DeactivateDevice, state: MemberState, rules: Rules): Decision | Refusal {
  const { now, deviceId } = command;
  const onDevice = activeLicenses(state).filter((l) => l.deviceId === deviceId);
  const deactivated = decideDevice({ type: 'DeactivateDevice', now, deviceId, activeLicenseIds: onDevice.map((l) => l.licenseId) }, state.devices.get(deviceId) ?? null);
  if (isRefusal(deactivated)) return deactivated;
  // A device already deactivated changes nothing, so it costs nothing: no limit applies.
  if (deactivated.length > 0) {
    const refusal = firstRefusal(evaluateLimits(state, command, { rules, plan: null, title: null }));
    if (refusal !== null) return refusal;
  }
  const events: DomainEvent[] = [...deactivated];
  if (deactivated.length > 0) {
    for (const license of onDevice) {
      const released = decideLicense({ type: 'ReleaseLicense', now, licenseId: license.licenseId, cause: 'device-deactivated' }, license);
      if (isRefusal(released)) return released;
      events.push(...released);
    }
  }
  const releasedLicenseIds = deactivated.length > 0 ? onDevice.map((l) => l.licenseId) : [];
  return { events, answer: { kind: 'deactivate', deviceId, releasedLicenseIds }, repeated: false };
}

/**
 * A tiny given/when/then harness for the member decider, in the style of Emmett's
 * DeciderSpecification:
 *
 *   const { given } = specification(t);
 *   given([...events]).when(command).then([...expectedEvents]);   // events emitted
 *   given([...events]).when(command).then('DEVICE_LIMIT');        // refused, returns the Refusal
 *   given([...events]).when(command).then(nothing);               // accepted, no events
 *   given([...events]).when(command).then(requestIdReused);       // request id bound to another command
 *   given([...events]).when(command).then(unknownPlan);           // the command names a plan the rules lack
 *
 * `given` folds the events into a fresh MemberState with applyEvent and metadata
 * {rulesVersion: 'test-1'} (plus a request id for entries made with `withRequestId`). The
 * assertions are on what `decide` returns (events, refusal, answer), never on internal state.
 */
import type { Test } from 'tap';
import type { DomainEvent } from '../../src/domain/events.ts';
import type { ReleaseCause, PlaybackSession } from '../../src/domain/aggregates/license.ts';
import type { DownloadVia } from '../../src/domain/aggregates/downloaded.ts';
import { decide, type Decision, type RequestIdReused } from '../../src/domain/member/decide.ts';
import type { MemberCommand } from '../../src/domain/member/commands.ts';
import { applyEvent, initialMemberState, type MemberState } from '../../src/domain/member/state.ts';
import { isRefusal, type Refusal, type RefusalReason } from '../../src/domain/refusal.ts';
import type { Rules, UnknownPlan } from '../../src/domain/rules.ts';
import { DAY, testRules } from '../support/fixtures.ts';

export const RULES_VERSION = 'test-1';

/** Expect an accepted command that emits no events (idempotent no-op or repeated request). */
export const nothing: unique symbol = Symbol('nothing');
/** Expect the request id to be refused as reused for a different command. */
export const requestIdReused: unique symbol = Symbol('requestIdReused');
/** Expect the plan to be refused as unknown (bad input, not a refusal). */
export const unknownPlan: unique symbol = Symbol('unknownPlan');

type Result = Decision | Refusal | RequestIdReused | UnknownPlan;

export type GivenEntry = DomainEvent | { requestId: string; event: DomainEvent };

/** Marks one command's events as written with a request id. */
export function withRequestId(requestId: string, events: DomainEvent[]): GivenEntry[] {
  return events.map((event) => ({ requestId, event }));
}

function isTagged(entry: GivenEntry): entry is { requestId: string; event: DomainEvent } {
  return 'event' in entry && 'requestId' in entry;
}

export function foldEvents(entries: readonly GivenEntry[]): MemberState {
  const state = initialMemberState();
  for (const entry of entries) {
    if (isTagged(entry)) applyEvent(state, entry.event, { rulesVersion: RULES_VERSION, requestId: entry.requestId });
    else applyEvent(state, entry, { rulesVersion: RULES_VERSION });
  }
  return state;
}

export interface Then {
  then(expected: DomainEvent[]): Decision;
  then(expected: RefusalReason): Refusal;
  then(expected: typeof nothing): Decision;
  then(expected: typeof requestIdReused): RequestIdReused;
  then(expected: typeof unknownPlan): UnknownPlan;
}

export interface When {
  when(command: MemberCommand): Then;
}

// A property, not a method: tests take `given` out of the specification (`const { given } = ...`).
export interface Specification {
  given: (entries?: readonly GivenEntry[]) => When;
}

function describe(result: Result): string {
  if (isRefusal(result)) return `refusal ${result.reason}: ${result.message}`;
  if ('requestIdReused' in result) return `requestIdReused ${result.requestId}`;
  if ('unknownPlan' in result) return `unknownPlan ${result.plan}`;
  return `decision with ${result.events.length} event(s) ${JSON.stringify(result.events.map((e) => e.type))}${result.repeated ? ' (repeated)' : ''}`;
}

export function specification(t: Test, rules: Rules = testRules()): Specification {
  return {
    given(entries = []) {
      return {
        when(command) {
          const run = (): Result => {
            const state = foldEvents(entries);
            // The decider must be pure: deciding twice on the same state gives the same result.
            const first = decide(command, state, rules);
            const second = decide(command, state, rules);
            t.same(second, first, 'deciding twice gives the same result');
            return first;
          };
          const then = (expected: DomainEvent[] | RefusalReason | typeof nothing | typeof requestIdReused | typeof unknownPlan): unknown => {
            if (typeof expected === 'function') {
              throw new TypeError('a When/Then is not a promise: call .then(expected) yourself, do not await it');
            }
            const result = run();
            if (expected === requestIdReused) {
              t.ok(!isRefusal(result) && 'requestIdReused' in result, `expected requestIdReused, got ${describe(result)}`);
              return result;
            }
            if (expected === unknownPlan) {
              t.ok(!isRefusal(result) && 'unknownPlan' in result, `expected unknownPlan, got ${describe(result)}`);
              return result;
            }
            if (typeof expected === 'string') {
              t.ok(isRefusal(result), `expected refusal ${expected}, got ${describe(result)}`);
              if (isRefusal(result)) {
                t.equal(result.reason, expected, 'refusal reason');
                t.equal(typeof result.message, 'string', 'refusal carries a message');
                t.ok(result.message.length > 0, 'refusal message is not empty');
              }
              return result;
            }
            const accepted = !isRefusal(result) && !('requestIdReused' in result) && !('unknownPlan' in result);
            t.ok(accepted, `expected a decision, got ${describe(result)}`);
            if (!accepted) return result;
            if (expected === nothing) {
              t.same(result.events, [], 'no events');
            } else {
              t.same(result.events, expected, 'events emitted');
              t.equal(result.repeated, false, 'not a repeated request');
            }
            return result;
          };
          return { then } as Then;
        },
      };
    },
  };
}

// ---- event builders (literal events, as the store would hold them) ----

export function licenseAcquired(o: { at: number; licenseId: string; deviceId: string; titleId: string; studioId?: string | null; windowDays?: number }): DomainEvent {
  return {
    type: 'LicenseAcquired',
    at: o.at,
    licenseId: o.licenseId,
    deviceId: o.deviceId,
    titleId: o.titleId,
    studioId: o.studioId ?? null,
    expiresAt: o.at + (o.windowDays ?? 30) * DAY,
  };
}

export function titleDownloaded(o: { at: number; titleId: string; licenseId: string; deviceId: string; via?: DownloadVia }): DomainEvent {
  return { type: 'TitleDownloaded', at: o.at, titleId: o.titleId, licenseId: o.licenseId, deviceId: o.deviceId, via: o.via ?? 'acquire' };
}

export function deviceRegistered(at: number, deviceId: string): DomainEvent {
  return { type: 'DeviceRegistered', at, deviceId };
}

export function deviceDeactivated(at: number, deviceId: string, releasedLicenseIds: string[] = []): DomainEvent {
  return { type: 'DeviceDeactivated', at, deviceId, releasedLicenseIds };
}

export function licenseReleased(at: number, licenseId: string, cause: ReleaseCause = 'member'): DomainEvent {
  return { type: 'LicenseReleased', at, licenseId, cause };
}

export function licenseRenewed(at: number, licenseId: string, expiresAt: number, renewals: number): DomainEvent {
  return { type: 'LicenseRenewed', at, licenseId, expiresAt, renewals };
}

export function playbackRecorded(at: number, licenseId: string, sessions: PlaybackSession[]): DomainEvent {
  return { type: 'PlaybackRecorded', at, licenseId, sessions };
}

/**
 * The events of one successful acquisition: LicenseAcquired, TitleDownloaded and, when the
 * device holds no registration yet (or was deactivated), DeviceRegistered.
 */
export function acquisition(o: {
  at: number;
  licenseId: string;
  deviceId: string;
  titleId: string;
  studioId?: string | null;
  windowDays?: number;
  registersDevice?: boolean;
}): DomainEvent[] {
  const events: DomainEvent[] = [licenseAcquired(o), titleDownloaded({ at: o.at, titleId: o.titleId, licenseId: o.licenseId, deviceId: o.deviceId })];
  if (o.registersDevice ?? true) events.push(deviceRegistered(o.at, o.deviceId));
  return events;
}

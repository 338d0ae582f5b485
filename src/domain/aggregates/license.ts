/**
 * The `license` aggregate: one per license id. It owns the lifecycle acquire -> (renew | play)*
 * -> release, and refuses every transition that lifecycle does not allow (the talk's worst bug
 * was a released license being renewed). How often a license may be renewed is a limit
 * (limits/renewal-limit.ts), checked after this allows the renewal.
 */
import { refuse, type Refusal } from '../refusal.ts';
import { DAY_MS, iso, type Instant } from '../time.ts';

export type ReleaseCause = 'member' | 'device-deactivated';

export interface PlaybackSession {
  sessionId: string;
  startedAt: Instant;
  durationMs: number;
}

export interface LicenseAcquired {
  type: 'LicenseAcquired';
  at: Instant;
  licenseId: string;
  deviceId: string;
  titleId: string;
  studioId: string | null;
  expiresAt: Instant;
}
export interface LicenseRenewed {
  type: 'LicenseRenewed';
  at: Instant;
  licenseId: string;
  expiresAt: Instant;
  renewals: number;
}
export interface LicenseReleased {
  type: 'LicenseReleased';
  at: Instant;
  licenseId: string;
  /** Added in schema version 2; version-1 rows are read as 'member'. */
  cause: ReleaseCause;
}
export interface PlaybackRecorded {
  type: 'PlaybackRecorded';
  at: Instant;
  licenseId: string;
  sessions: PlaybackSession[];
}
export type LicenseEvent = LicenseAcquired | LicenseRenewed | LicenseReleased | PlaybackRecorded;

export interface LicenseState {
  licenseId: string;
  deviceId: string;
  titleId: string;
  studioId: string | null;
  acquiredAt: Instant;
  expiresAt: Instant;
  renewals: number;
  releasedAt: Instant | null;
  releaseCause: ReleaseCause | null;
  playbackSessions: number;
  playbackMs: number;
}

export function evolveLicense(state: LicenseState | null, event: LicenseEvent): LicenseState | null {
  switch (event.type) {
    case 'LicenseAcquired':
      return {
        licenseId: event.licenseId,
        deviceId: event.deviceId,
        titleId: event.titleId,
        studioId: event.studioId,
        acquiredAt: event.at,
        expiresAt: event.expiresAt,
        renewals: 0,
        releasedAt: null,
        releaseCause: null,
        playbackSessions: 0,
        playbackMs: 0,
      };
    case 'LicenseRenewed':
      return state && { ...state, expiresAt: event.expiresAt, renewals: event.renewals };
    case 'LicenseReleased':
      return state && { ...state, releasedAt: event.at, releaseCause: event.cause };
    case 'PlaybackRecorded':
      return (
        state && {
          ...state,
          playbackSessions: state.playbackSessions + event.sessions.length,
          playbackMs: state.playbackMs + event.sessions.reduce((sum, s) => sum + s.durationMs, 0),
        }
      );
  }
}

export function isActive(state: LicenseState): boolean {
  return state.releasedAt === null;
}

// ---- commands ----

export interface CreateLicense {
  type: 'CreateLicense';
  now: Instant;
  licenseId: string;
  deviceId: string;
  titleId: string;
  studioId: string | null;
  licenseWindowDays: number;
}
export interface RenewLicense {
  type: 'RenewLicense';
  now: Instant;
  licenseId: string;
  /** When given, the license must be on this device. */
  deviceId?: string | undefined;
  licenseWindowDays: number;
}
export interface ReleaseLicense {
  type: 'ReleaseLicense';
  now: Instant;
  licenseId: string;
  deviceId?: string | undefined;
  cause: ReleaseCause;
}
export interface RecordPlayback {
  type: 'RecordPlayback';
  now: Instant;
  licenseId: string;
  deviceId?: string | undefined;
  sessions: PlaybackSession[];
}
export type LicenseCommand = CreateLicense | RenewLicense | ReleaseLicense | RecordPlayback;

export function decideLicense(command: LicenseCommand, state: LicenseState | null): LicenseEvent[] | Refusal {
  if (command.type === 'CreateLicense') {
    // License ids are fresh UUIDs; a collision is a bug in the caller, not a business refusal.
    if (state !== null) throw new Error(`license ${command.licenseId} already exists`);
    return [
      {
        type: 'LicenseAcquired',
        at: command.now,
        licenseId: command.licenseId,
        deviceId: command.deviceId,
        titleId: command.titleId,
        studioId: command.studioId,
        expiresAt: command.now + command.licenseWindowDays * DAY_MS,
      },
    ];
  }
  if (state === null) {
    return refuse('LICENSE_NOT_FOUND', `License ${command.licenseId} does not exist for this member.`, {
      licenseId: command.licenseId,
    });
  }
  if (command.deviceId !== undefined && command.deviceId !== state.deviceId) {
    return refuse('WRONG_DEVICE', `License ${state.licenseId} belongs to another device.`, {
      licenseId: state.licenseId,
      deviceId: command.deviceId,
    });
  }
  switch (command.type) {
    case 'ReleaseLicense':
      // Releasing twice is idempotent: the first release stands and nothing new is written.
      if (!isActive(state)) return [];
      return [{ type: 'LicenseReleased', at: command.now, licenseId: state.licenseId, cause: command.cause }];
    case 'RenewLicense':
      if (!isActive(state)) return releasedRefusal(state, 'renewed');
      return [
        {
          type: 'LicenseRenewed',
          at: command.now,
          licenseId: state.licenseId,
          // A lapsed license renews from now, so a renewal always grants a full window ahead.
          expiresAt: Math.max(state.expiresAt, command.now) + command.licenseWindowDays * DAY_MS,
          renewals: state.renewals + 1,
        },
      ];
    case 'RecordPlayback':
      if (!isActive(state)) return releasedRefusal(state, 'played');
      return [{ type: 'PlaybackRecorded', at: command.now, licenseId: state.licenseId, sessions: command.sessions }];
  }
}

function releasedRefusal(state: LicenseState, verb: string): Refusal {
  const releasedAt = state.releasedAt ?? state.acquiredAt;
  return refuse('LICENSE_RELEASED', `License ${state.licenseId} was released at ${iso(releasedAt)} and cannot be ${verb}.`, {
    licenseId: state.licenseId,
    releasedAt: iso(releasedAt),
    cause: state.releaseCause,
  });
}

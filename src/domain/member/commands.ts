/**
 * Member-level commands: what the edge asks for. Each carries the instant it is decided at
 * (the domain never reads a clock) and, optionally, a request id for idempotent retries.
 */
import type { Instant } from '../time.ts';
import type { PlaybackSession } from '../aggregates/license.ts';

interface CommandBase {
  now: Instant;
  requestId?: string | undefined;
  /** The HTTP request behind the command, stored with its events for tracing; never decided on. */
  correlationId?: string | undefined;
}

export interface AcquireLicense extends CommandBase {
  type: 'AcquireLicense';
  /** A fresh id chosen by the caller (ids are random, so the pure decider cannot make them). */
  licenseId: string;
  deviceId: string;
  titleId: string;
  /** The member's plan, sent by the edge for this request; the rules' default plan otherwise. */
  plan?: string | undefined;
}
export interface RenewLicense extends CommandBase {
  type: 'RenewLicense';
  licenseId: string;
  deviceId?: string | undefined;
}
export interface ReleaseLicense extends CommandBase {
  type: 'ReleaseLicense';
  licenseId: string;
  deviceId?: string | undefined;
}
export interface RecordPlayback extends CommandBase {
  type: 'RecordPlayback';
  licenseId: string;
  deviceId?: string | undefined;
  sessions: PlaybackSession[];
}
export interface DeactivateDevice extends CommandBase {
  type: 'DeactivateDevice';
  deviceId: string;
}

export type MemberCommand = AcquireLicense | RenewLicense | ReleaseLicense | RecordPlayback | DeactivateDevice;

/** The request-id fingerprint of a command; matches `fingerprintOfAnswer` of its answer. */
export function fingerprintOfCommand(command: MemberCommand): string {
  switch (command.type) {
    case 'AcquireLicense':
      return `acquire:${command.deviceId}:${command.titleId}`;
    case 'RenewLicense':
      return `renew:${command.licenseId}`;
    case 'ReleaseLicense':
      return `release:${command.licenseId}`;
    case 'RecordPlayback':
      return `playback:${command.licenseId}`;
    case 'DeactivateDevice':
      return `deactivate:${command.deviceId}`;
  }
}

/**
 * What a successful command answers. Each answer is derivable from the command's primary event,
 * so a repeated request id can be answered from the stored events alone, after a restart too.
 */
import type { DomainEvent } from '../events.ts';
import type { Instant } from '../time.ts';

export type CommandAnswer =
  | { kind: 'acquire'; licenseId: string; deviceId: string; titleId: string; studioId: string | null; expiresAt: Instant; rulesVersion: string }
  | { kind: 'renew'; licenseId: string; expiresAt: Instant; renewals: number }
  | { kind: 'release'; licenseId: string; releasedAt: Instant }
  | { kind: 'playback'; licenseId: string; recorded: number }
  | { kind: 'deactivate'; deviceId: string; releasedLicenseIds: string[] };

export type CommandKind = CommandAnswer['kind'];

/**
 * The answer a command's primary event stands for, or undefined for events that only follow
 * from another command (a title counted, a device registered, a license released by a
 * device deactivation).
 */
export function answerOfPrimaryEvent(event: DomainEvent, rulesVersion: string): CommandAnswer | undefined {
  switch (event.type) {
    case 'LicenseAcquired':
      return {
        kind: 'acquire',
        licenseId: event.licenseId,
        deviceId: event.deviceId,
        titleId: event.titleId,
        studioId: event.studioId,
        expiresAt: event.expiresAt,
        rulesVersion,
      };
    case 'LicenseRenewed':
      return { kind: 'renew', licenseId: event.licenseId, expiresAt: event.expiresAt, renewals: event.renewals };
    case 'LicenseReleased':
      return event.cause === 'member' ? { kind: 'release', licenseId: event.licenseId, releasedAt: event.at } : undefined;
    case 'PlaybackRecorded':
      return { kind: 'playback', licenseId: event.licenseId, recorded: event.sessions.length };
    case 'DeviceDeactivated':
      return { kind: 'deactivate', deviceId: event.deviceId, releasedLicenseIds: event.releasedLicenseIds };
    case 'TitleDownloaded':
    case 'DeviceRegistered':
      return undefined;
  }
}

/**
 * What a request id is bound to: the command kind and its target. A request id reused for a
 * different command is a client bug, answered as such rather than with the other answer.
 */
export function fingerprintOfAnswer(answer: CommandAnswer): string {
  switch (answer.kind) {
    case 'acquire':
      return `acquire:${answer.deviceId}:${answer.titleId}`;
    case 'renew':
    case 'release':
    case 'playback':
      return `${answer.kind}:${answer.licenseId}`;
    case 'deactivate':
      return `deactivate:${answer.deviceId}`;
  }
}

/**
 * A refusal is a decision, not an error: the command was understood and the rules (or the
 * aggregate's state) say no. Each carries a machine-readable reason and details a person can
 * act on (which licenses count, when the next slot frees).
 *
 * The limits' reasons come from the limit rules (limits/index.ts); the others guard a license's
 * or a device's lifecycle. LICENSE_NOT_FOUND and DEVICE_NOT_FOUND are answered as 404 errors.
 */
import type { LimitReason } from './limits/index.ts';
import type { MemberCommand } from './member/commands.ts';

/** The lifecycle refusals, with their rows in the README's Refusals table. */
export const LIFECYCLE_REFUSALS = [
  {
    reason: 'LICENSE_RELEASED',
    commands: ['RenewLicense', 'RecordPlayback'],
    readme: { counts: 'the license was released (by the member, or by deactivating its device)', setBy: '' },
  },
  {
    reason: 'WRONG_DEVICE',
    commands: ['RenewLicense', 'ReleaseLicense', 'RecordPlayback'],
    readme: { counts: 'the license is on another device than the `deviceId` sent', setBy: '' },
  },
] as const satisfies readonly { reason: string; commands: readonly MemberCommand['type'][]; readme: { counts: string; setBy: string } }[];

export const LIFECYCLE_REASONS = LIFECYCLE_REFUSALS.map((r) => r.reason);

export type RefusalReason = LimitReason | (typeof LIFECYCLE_REFUSALS)[number]['reason'] | 'LICENSE_NOT_FOUND' | 'DEVICE_NOT_FOUND';

export interface Refusal {
  readonly refused: true;
  readonly reason: RefusalReason;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export function refuse(reason: RefusalReason, message: string, details: Record<string, unknown>): Refusal {
  return { refused: true, reason, message, details };
}

export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && (value as { refused?: unknown }).refused === true;
}

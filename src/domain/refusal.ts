/**
 * A refusal is a decision, not an error: the command was understood and the rules (or the
 * aggregate's state) say no. Each carries a machine-readable reason and details a person can
 * act on (which licenses count, when the next slot frees).
 */
export type RefusalReason =
  | 'DEVICE_LIMIT'
  | 'DEVICE_DOWNLOAD_LIMIT'
  | 'STUDIO_LIMIT'
  | 'YEARLY_TITLE_LIMIT'
  | 'LICENSE_RELEASED'
  | 'RENEWAL_LIMIT'
  | 'DEACTIVATION_LIMIT'
  | 'LICENSE_NOT_FOUND'
  | 'DEVICE_NOT_FOUND'
  | 'WRONG_DEVICE';

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

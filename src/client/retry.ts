/**
 * When a failed attempt may be tried again, and after how long. Retrying is only safe when a
 * repeat cannot do the work twice: reads, and commands carrying a requestId (the service
 * answers a repeated requestId with the first answer and writes nothing). And only for
 * failures a retry can fix: no answer (timeout, connection) or 503 (the service said "later").
 * A 500 is a bug or a broken member; asking again only adds load.
 */
import { MIN_ATTEMPT_MS } from './options.ts';
import type { AttemptFailure } from './transport.ts';

export interface RetryPolicy {
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
}

export function isRetryableFailure(failure: AttemptFailure): boolean {
  return failure.kind === 'timeout' || failure.kind === 'connection' || failure.status === 503;
}

/**
 * Exponential back-off with "equal jitter": half of the step is fixed, half random, so edges
 * that failed together do not all come back at the same instant, yet never retry at once.
 */
export function backoff(retryIndex: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** retryIndex);
  return step / 2 + (random() * step) / 2;
}

/**
 * The wait before retry number `retryIndex` (0 for the first retry), or null when there must be
 * none. A Retry-After is honoured when it fits in what is left of the call's budget (with room
 * for one useful attempt after it); a longer one means the answer now is the fallback.
 */
export function retryDelay(failure: AttemptFailure, retryIndex: number, policy: RetryPolicy, remainingMs: number): number | null {
  if (retryIndex >= policy.retries || !isRetryableFailure(failure)) return null;
  const delay = Math.max(backoff(retryIndex, policy), failure.retryAfterMs ?? 0);
  return remainingMs - delay >= MIN_ATTEMPT_MS ? delay : null;
}

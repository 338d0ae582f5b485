/** Milliseconds since the Unix epoch. The domain never reads a clock: callers pass instants in. */
export type Instant = number;

export const DAY_MS = 86_400_000;
/** Limits are counted over rolling 365-day windows, not calendar years. */
export const YEAR_MS = 365 * DAY_MS;

/** True when `at` lies inside the rolling year that ends at `now` (exclusive start, inclusive end). */
export function inRollingYear(at: Instant, now: Instant): boolean {
  return at > now - YEAR_MS && at <= now;
}

export function iso(at: Instant): string {
  return new Date(at).toISOString();
}

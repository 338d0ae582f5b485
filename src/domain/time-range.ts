/**
 * The instants the service can represent: 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z.
 *
 * Why a range at all: beyond year 9999 an ISO-8601 string needs a six-digit signed year
 * ("+010000-..."), which is not an RFC 3339 date-time and which our own schemas refuse on the way
 * back in; beyond year 275760 `toISOString()` throws. Before 1970 the stores' times would be
 * negative, which nothing here needs. Every time accepted from outside (HTTP, the CLI, the
 * manual clock) and every time the service computes and stores (an expiry, a renewal) is kept
 * inside; a stored row with a time outside is undecodable. Times that are only compared, never
 * stored or shown (the start of a rolling year, `now - 365 days`), may fall outside.
 */
import type { DomainEvent } from './events.ts';
import type { Instant } from './time.ts';

export const MIN_INSTANT: Instant = 0;
export const MAX_INSTANT: Instant = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const MIN_ISO = '1970-01-01T00:00:00.000Z';
export const MAX_ISO = '9999-12-31T23:59:59.999Z';

export function isRepresentable(at: number): boolean {
  return Number.isInteger(at) && at >= MIN_INSTANT && at <= MAX_INSTANT;
}

/** `at`, or null when it cannot be represented (a next slot that frees after year 9999). */
export function representableOrNull(at: number): Instant | null {
  return isRepresentable(at) ? at : null;
}

/** A time a stored event would carry, named as the answer or the row names it. */
export interface EventTime {
  field: string;
  at: number;
}

/** Every time an event stores or implies (a playback session's end), to check before writing or after reading. */
export function eventTimes(event: DomainEvent): EventTime[] {
  const times: EventTime[] = [{ field: 'at', at: event.at }];
  switch (event.type) {
    case 'LicenseAcquired':
    case 'LicenseRenewed':
      times.push({ field: 'expiresAt', at: event.expiresAt });
      break;
    case 'PlaybackRecorded':
      event.sessions.forEach((session, index) => {
        times.push({ field: `sessions.${index}.startedAt`, at: session.startedAt });
        times.push({ field: `sessions.${index}.endedAt`, at: session.startedAt + session.durationMs });
      });
      break;
    default:
      break;
  }
  return times;
}

/** The first time among the events that cannot be represented, or null when all can. */
export function firstUnrepresentableTime(events: readonly DomainEvent[]): (EventTime & { type: DomainEvent['type'] }) | null {
  for (const event of events) {
    for (const time of eventTimes(event)) if (!isRepresentable(time.at)) return { ...time, type: event.type };
  }
  return null;
}

/**
 * What a member's state keeps, and what leaves it once no decision can need it, so that memory
 * and snapshots stay bounded whatever the length of the history. The events keep everything:
 * the debug API and the CLI rebuild from them, never from this state.
 *
 * What each decision reads (decide.ts, limits/), at a command time `now` that is never earlier
 * than the member's newest event (the service stamps max(clock, lastEventAt)):
 * - the device, per-device, studio and per-title limits, and a deactivation's releases: the
 *   active licenses only;
 * - renew, release and playback: the license named, active or released (a released one answers
 *   LICENSE_RELEASED, or the first release again);
 * - the yearly title limit: that title's downloads with at in (now - 365 days, now];
 * - the deactivation limit: every device's deactivations in (now - 365 days, now];
 * - an acquire registers its device unless the device is active; deactivating a device needs
 *   it known (else DEVICE_NOT_FOUND) and does nothing when it is already deactivated;
 * - a request id: its record when at > now - 24 hours.
 *
 * So, pruned at `now` = the member's newest event:
 * - a download or a deactivation at or before now - 365 days can never count again, and a title
 *   left with no download is dropped: `downloaded.get` then answers what an empty list did;
 * - a request record at or before now - 24 hours can never be repeated;
 * - a deactivated device with no deactivation left in the year is dropped: an acquire on it
 *   registers it again exactly as before; deactivating it again answers DEVICE_NOT_FOUND (it
 *   answered an idempotent "nothing released" before);
 * - a license released at or before now - `releasedLicenseMs` is dropped: renew, release and
 *   playback of it answer LICENSE_NOT_FOUND (they answered LICENSE_RELEASED, or the first
 *   release again, before). Nothing else reads a released license. `releasedPrunedThrough`
 *   records how far this went, so the answer can say so, and so a replay check can prune a
 *   rebuild from the events the same way.
 * Active licenses, active devices and everything inside the windows stay, so every other
 * answer is exactly what the unpruned state gives (test/domain/retention.test.ts).
 *
 * Pruning twice, at t1 and later at t2, leaves what one pruning at t2 leaves (everything dropped
 * at t1 would be dropped at t2, and nothing dropped is ever written to again), so where the
 * snapshots fall does not change the state, as long as the retention is the same.
 */
import { NO_DEACTIVATIONS, type DeviceState } from '../aggregates/device.ts';
import { DAY_MS, YEAR_MS, type Instant } from '../time.ts';
import type { MemberState } from './state.ts';

export const DEFAULT_RELEASED_LICENSE_RETENTION_DAYS = 30;

export interface Retention {
  /** How long a released license stays in the state after its release. */
  releasedLicenseMs: number;
}

export const DEFAULT_RETENTION: Retention = { releasedLicenseMs: DEFAULT_RELEASED_LICENSE_RETENTION_DAYS * DAY_MS };

export function retentionOfDays(releasedLicenseDays: number): Retention {
  return { releasedLicenseMs: releasedLicenseDays * DAY_MS };
}

/**
 * The state without what no decision at or after `now` can need. Pure: a new state that shares
 * the aggregates it keeps unchanged with `state`. (Lists are sliced after filtering: a filtered
 * array keeps room for 16 more entries, and this is what the cache holds.) A title whose
 * downloads all left has no aggregate any more: `downloaded.get` answers as for an empty list.
 */
export function pruneMemberState(state: MemberState, now: Instant, retention: Retention): MemberState {
  // Through the newest release that leaves now: the same licenses leave as through
  // now - retention (no kept license was released between the two), and a member that never
  // released one keeps null, not a boxed number (16 bytes per member).
  const cutoff = now - retention.releasedLicenseMs;
  let through = state.releasedPrunedThrough;
  for (const { releasedAt } of state.licenses.values()) if (releasedAt !== null && releasedAt <= cutoff && (through === null || releasedAt > through)) through = releasedAt;
  return pruneMemberStateThrough(state, now, through);
}

/**
 * As pruneMemberState, with the released licenses dropped through a given instant (a snapshot's
 * `releasedPrunedThrough`); null drops none.
 */
export function pruneMemberStateThrough(state: MemberState, now: Instant, releasedThrough: Instant | null): MemberState {
  const yearStart = now - YEAR_MS;
  return {
    licenses: releasedThrough === null ? state.licenses.filter(() => true) : state.licenses.filter((l) => l.releasedAt === null || l.releasedAt > releasedThrough),
    downloaded: state.downloaded.since(yearStart),
    devices: state.devices.map((d) => recentDevice(d, yearStart)),
    requests: state.requests.withoutExpired(now),
    lastEventAt: state.lastEventAt,
    releasedPrunedThrough: releasedThrough,
  };
}

function recentDevice(device: DeviceState, yearStart: Instant): DeviceState | null {
  const recent = device.deactivations.filter((at) => at > yearStart);
  if (device.status === 'deactivated' && recent.length === 0) return null;
  if (recent.length === device.deactivations.length) return device;
  return { ...device, deactivations: recent.length === 0 ? NO_DEACTIVATIONS : recent.slice() };
}

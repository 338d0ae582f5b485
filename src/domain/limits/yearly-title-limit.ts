/**
 * Downloads of one title in the rolling year: every acquire counts, and a renewal too when the
 * title's studio says renewals count. The `downloaded` aggregate keeps the list this reads, so
 * the check reads one small list instead of every license the member ever held.
 */
import type { Download, DownloadedState } from '../aggregates/downloaded.ts';
import { inRollingYear, iso, YEAR_MS, type Instant } from '../time.ts';
import { representableOrNull } from '../time-range.ts';
import { countDownload } from './counting.ts';
import { limitSchema, reached, type LimitRule } from './limit-rule.ts';

export const keys = {
  title: { yearlyTitleLimit: limitSchema, renewalCountsTowardYearlyLimit: { type: 'boolean' } },
  required: ['yearlyTitleLimit', 'renewalCountsTowardYearlyLimit'],
} as const;

/** The downloads that count toward the yearly limit at `now`, oldest first. */
export function countingDownloads(state: DownloadedState | null, now: Instant): Download[] {
  return (state?.downloads ?? []).filter((d) => inRollingYear(d.at, now));
}

export const yearlyTitleLimit: LimitRule<'YEARLY_TITLE_LIMIT'> = {
  name: 'yearlyTitleLimit',
  reason: 'YEARLY_TITLE_LIMIT',
  commands: ['AcquireLicense', 'RenewLicense'],
  keys,
  readme: {
    counts: 'acquisitions of this title in the last 365 days, and its renewals when `renewalCountsTowardYearlyLimit` is true',
    setBy: '`yearlyTitleLimit` and `renewalCountsTowardYearlyLimit` in `defaults` or `studios.<studio>`',
  },
  evaluate(state, command, policy) {
    const title = policy.title;
    if (title === null || command.type === 'DeactivateDevice') return null;
    if (command.type === 'RenewLicense' && !title.renewalCountsTowardYearlyLimit) return null;
    const { titleId, yearlyTitleLimit: limit } = title;
    const counted = countingDownloads(state.downloaded.get(titleId) ?? null, command.now);
    const counting = counted.map((d) => countDownload(titleId, d));
    if (!reached(limit, counted.length)) return { limit, counting, refusal: null };
    const oldest = counted[0];
    if (oldest === undefined) {
      // A limit of 0 with nothing counted: the title may never be downloaded.
      return {
        limit,
        counting,
        refusal: { message: `Title ${titleId} may not be downloaded (yearly limit 0).`, details: { titleId, limit, countingDownloads: [], nextSlotAt: null } },
      };
    }
    // A slot that frees after year 9999 is shown as null: it cannot be written as a date-time.
    const nextSlot = representableOrNull(oldest.at + YEAR_MS);
    const nextSlotAt = nextSlot === null ? null : iso(nextSlot);
    return {
      limit,
      counting,
      refusal: {
        message:
          `Title ${titleId} was downloaded ${counted.length} times in the last 365 days (limit ${limit}); ` +
          (nextSlotAt === null ? 'no download is possible before the end of the representable time range.' : `the next download is possible from ${nextSlotAt}.`),
        details: { titleId, limit, countingDownloads: counted.map((d) => ({ at: iso(d.at), licenseId: d.licenseId, via: d.via })), nextSlotAt },
      },
    };
  },
};

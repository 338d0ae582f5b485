/**
 * The `downloaded` aggregate: one per title, a denormalised record of when the member acquired
 * it. It exists so the yearly-title check reads one small list instead of scanning every
 * license the member ever held (the talk's reason for adding it).
 */
import { refuse, type Refusal } from '../refusal.ts';
import { inRollingYear, iso, YEAR_MS, type Instant } from '../time.ts';
import { representableOrNull } from '../time-range.ts';
import { reached, type Limit } from '../rules.ts';

export type DownloadVia = 'acquire' | 'renew';

export interface TitleDownloaded {
  type: 'TitleDownloaded';
  at: Instant;
  titleId: string;
  licenseId: string;
  deviceId: string;
  via: DownloadVia;
}
export type DownloadedEvent = TitleDownloaded;

export interface Download {
  at: Instant;
  licenseId: string;
  via: DownloadVia;
}
export interface DownloadedState {
  titleId: string;
  /** Only the downloads of the rolling year that ends at the newest one: older ones can never count again. */
  downloads: Download[];
}

export function evolveDownloaded(state: DownloadedState | null, event: DownloadedEvent): DownloadedState {
  const recent = (state?.downloads ?? []).filter((d) => d.at > event.at - YEAR_MS);
  return { titleId: event.titleId, downloads: [...recent, { at: event.at, licenseId: event.licenseId, via: event.via }] };
}

/** The downloads that count toward the yearly limit at `now`, oldest first. */
export function countingDownloads(state: DownloadedState | null, now: Instant): Download[] {
  return (state?.downloads ?? []).filter((d) => inRollingYear(d.at, now));
}

export interface CountDownload {
  type: 'CountDownload';
  now: Instant;
  titleId: string;
  licenseId: string;
  deviceId: string;
  via: DownloadVia;
  yearlyTitleLimit: Limit;
}
export type DownloadedCommand = CountDownload;

export function decideDownloaded(command: DownloadedCommand, state: DownloadedState | null): DownloadedEvent[] | Refusal {
  const counting = countingDownloads(state, command.now);
  const oldest = counting[0];
  if (reached(command.yearlyTitleLimit, counting.length) && oldest !== undefined) {
    // A slot that frees after year 9999 is shown as null: it cannot be written as a date-time.
    const nextSlot = representableOrNull(oldest.at + YEAR_MS);
    const nextSlotAt = nextSlot === null ? null : iso(nextSlot);
    return refuse(
      'YEARLY_TITLE_LIMIT',
      `Title ${command.titleId} was downloaded ${counting.length} times in the last 365 days (limit ${command.yearlyTitleLimit}); ` +
        (nextSlotAt === null ? 'no download is possible before the end of the representable time range.' : `the next download is possible from ${nextSlotAt}.`),
      {
        titleId: command.titleId,
        limit: command.yearlyTitleLimit,
        countingDownloads: counting.map((d) => ({ at: iso(d.at), licenseId: d.licenseId, via: d.via })),
        nextSlotAt,
      },
    );
  }
  if (reached(command.yearlyTitleLimit, counting.length)) {
    // A limit of 0 with nothing counted: the title may never be downloaded.
    return refuse('YEARLY_TITLE_LIMIT', `Title ${command.titleId} may not be downloaded (yearly limit 0).`, {
      titleId: command.titleId,
      limit: command.yearlyTitleLimit,
      countingDownloads: [],
      nextSlotAt: null,
    });
  }
  return [
    {
      type: 'TitleDownloaded',
      at: command.now,
      titleId: command.titleId,
      licenseId: command.licenseId,
      deviceId: command.deviceId,
      via: command.via,
    },
  ];
}

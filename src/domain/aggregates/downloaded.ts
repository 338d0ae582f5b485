/**
 * The `downloaded` aggregate: one per title, a denormalised record of when the member acquired
 * it. It exists so the yearly-title check (limits/yearly-title-limit.ts) reads one small list
 * instead of scanning every license the member ever held (the talk's reason for adding it).
 * A member's titles are kept together in one log (member/download-log.ts, which evolves them).
 */
import type { Instant } from '../time.ts';

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

export interface CountDownload {
  type: 'CountDownload';
  now: Instant;
  titleId: string;
  licenseId: string;
  deviceId: string;
  via: DownloadVia;
}
export type DownloadedCommand = CountDownload;

/** Counting is decided by the yearly limit before this runs: it only records the download. */
export function decideDownloaded(command: DownloadedCommand): DownloadedEvent[] {
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

/**
 * The member's `downloaded` aggregates (one per title, aggregates/downloaded.ts) kept as one log
 * of downloads, with a Map's interface by title: `get(titleId)` is that title's aggregate.
 *
 * Why one log: most titles hold one download in the year, and a title's record of its own (an
 * object, its list, the download) costs about 160 bytes where a logged download costs 72; a
 * member that downloads a title a day holds about 365 of them. The yearly limit scans the log
 * for its title: the log holds the downloads of one rolling year (retention.ts), and a
 * decision already walks the member's licenses.
 *
 * A title's downloads stay in the order they happened (its events are applied in order); the
 * log as a whole need not be (rows stored in the older layout replay a generation title by title).
 */
import { YEAR_MS, type Instant } from '../time.ts';
import type { Download, DownloadedState, TitleDownloaded } from '../aggregates/downloaded.ts';

/** A download as the log keeps it: with its title. */
export interface LoggedDownload extends Download {
  titleId: string;
}

export class DownloadLog implements Map<string, DownloadedState> {
  #log: LoggedDownload[];

  constructor(log: readonly LoggedDownload[] = []) {
    this.#log = log.slice();
  }

  /** A log of these aggregates (a decoded snapshot). */
  static of(titles: readonly DownloadedState[]): DownloadLog {
    const log: LoggedDownload[] = [];
    for (const { titleId, downloads } of titles) for (const d of downloads) log.push({ titleId, at: d.at, licenseId: d.licenseId, via: d.via });
    return new DownloadLog(log);
  }

  /**
   * Applies a TitleDownloaded event as the aggregate evolves: the title keeps the downloads of
   * the rolling year that ends at this one (older ones can never count again), then this one.
   */
  add(event: TitleDownloaded): void {
    const { titleId } = event;
    const yearStart = event.at - YEAR_MS;
    const stale = this.#log.some((d) => d.titleId === titleId && d.at <= yearStart);
    const kept = stale ? this.#log.filter((d) => d.titleId !== titleId || d.at > yearStart) : this.#log;
    // concat makes an array of the exact length; push would leave room for 16 more.
    this.#log = kept.concat([{ titleId, at: event.at, licenseId: event.licenseId, via: event.via }]);
  }

  /** A new log of the downloads after `start`. */
  since(start: Instant): DownloadLog {
    const log = new DownloadLog();
    log.#log = this.#log.filter((d) => d.at > start).slice();
    return log;
  }

  /** Every logged download, for reading or for sharing their strings (share-ids.ts). */
  get downloads(): readonly LoggedDownload[] {
    return this.#log;
  }

  /** Titles with at least one download (a Map's size). */
  get size(): number {
    return new Set(this.#log.map((d) => d.titleId)).size;
  }

  get [Symbol.toStringTag](): string {
    return 'DownloadLog';
  }

  get(titleId: string): DownloadedState | undefined {
    const downloads = this.#log.filter((d) => d.titleId === titleId);
    return downloads.length === 0 ? undefined : { titleId, downloads };
  }

  has(titleId: string): boolean {
    return this.#log.some((d) => d.titleId === titleId);
  }

  /** Replaces the title's downloads with `state`'s. */
  set(titleId: string, state: DownloadedState): this {
    const others = this.#log.filter((d) => d.titleId !== titleId);
    this.#log = others.concat(state.downloads.map((d) => ({ titleId, at: d.at, licenseId: d.licenseId, via: d.via })));
    return this;
  }

  delete(titleId: string): boolean {
    const had = this.has(titleId);
    if (had) this.#log = this.#log.filter((d) => d.titleId !== titleId).slice();
    return had;
  }

  clear(): void {
    this.#log = [];
  }

  /** The titles' aggregates, titles in the order of their first logged download. */
  #grouped(): Map<string, DownloadedState> {
    const byTitle = new Map<string, DownloadedState>();
    for (const d of this.#log) {
      const known = byTitle.get(d.titleId);
      if (known) known.downloads.push(d);
      else byTitle.set(d.titleId, { titleId: d.titleId, downloads: [d] });
    }
    return byTitle;
  }

  forEach(callback: (value: DownloadedState, key: string, map: Map<string, DownloadedState>) => void, thisArg?: unknown): void {
    for (const [titleId, state] of this.#grouped()) callback.call(thisArg, state, titleId, this);
  }

  entries(): MapIterator<[string, DownloadedState]> {
    return this.#grouped().entries();
  }

  keys(): MapIterator<string> {
    return this.#grouped().keys();
  }

  values(): MapIterator<DownloadedState> {
    return this.#grouped().values();
  }

  [Symbol.iterator](): MapIterator<[string, DownloadedState]> {
    return this.entries();
  }
}

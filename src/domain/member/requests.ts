/**
 * The request ids a member used in the dedup window, each with the answer of its command, so a
 * repeat within the window gets that answer again and writes nothing.
 *
 * Expired records are dropped in batches: when the log has doubled since it was last pruned,
 * one pass drops every record out of the window ending at the newest event. Each pass costs
 * the records it keeps twice over, so adding a record costs O(1) amortised and a replay is
 * linear in its events (a pass on every add made it events × request ids). An expired record
 * still in the log decides nothing (`live` asks the window at the command's time), and a
 * snapshot keeps only the live ones (`withoutExpired`).
 */
import { DAY_MS, type Instant } from '../time.ts';
import type { CommandAnswer } from './answers.ts';

/** A repeat of a request id within this window returns the first answer and writes nothing. */
export const REQUEST_DEDUP_WINDOW_MS = DAY_MS;

/** A log this small is never pruned before a snapshot: the pass would cost more than the records. */
const MIN_PRUNE_SIZE = 16;

export interface RequestRecord {
  at: Instant;
  /** What the command answered; its fingerprint (fingerprintOfAnswer) is what the id is bound to. */
  answer: CommandAnswer;
}

export class RequestLog {
  /** The log of a member that never sent a request id (most of them): one, shared, never written. */
  static readonly EMPTY = new RequestLog();

  #records: Map<string, RequestRecord> | null = null;
  #pruneAbove = MIN_PRUNE_SIZE;

  get size(): number {
    return this.#records?.size ?? 0;
  }

  get(requestId: string): RequestRecord | undefined {
    return this.#records?.get(requestId);
  }

  /** The record of `requestId` when it is live at `now`: a repeat then gets its answer. */
  live(requestId: string, now: Instant): RequestRecord | undefined {
    const record = this.get(requestId);
    return record !== undefined && record.at > now - REQUEST_DEDUP_WINDOW_MS ? record : undefined;
  }

  /**
   * Records a command's answer under its request id, and returns the log to keep: this one, or
   * a new one in place of the shared empty log. `newestAt`: the newest event of the member,
   * which the window ends at. A replay may apply events out of time order (the older row layout
   * returns a generation aggregate by aggregate), so an older use of an id (reused after its window) never replaces a newer one already recorded.
   */
  recorded(requestId: string, record: RequestRecord, newestAt: Instant): RequestLog {
    const log = this === RequestLog.EMPTY ? new RequestLog() : this;
    const records = (log.#records ??= new Map<string, RequestRecord>());
    const existing = records.get(requestId);
    if (existing !== undefined && existing.at > record.at) return log;
    records.set(requestId, record);
    if (records.size > log.#pruneAbove) {
      const cutoff = newestAt - REQUEST_DEDUP_WINDOW_MS;
      for (const [id, kept] of records) if (kept.at <= cutoff) records.delete(id);
      log.#pruneAbove = Math.max(MIN_PRUNE_SIZE, 2 * records.size);
    }
    return log;
  }

  /** The records live after `newestAt` (those a command at or after it can repeat). */
  withoutExpired(newestAt: Instant): RequestLog {
    const cutoff = newestAt - REQUEST_DEDUP_WINDOW_MS;
    return RequestLog.of([...this.entries()].filter(([, record]) => record.at > cutoff));
  }

  /** A log of these records (a decoded snapshot), as they are. */
  static of(entries: Iterable<readonly [string, RequestRecord]>): RequestLog {
    const records = new Map<string, RequestRecord>(entries);
    if (records.size === 0) return RequestLog.EMPTY;
    const log = new RequestLog();
    log.#records = records;
    log.#pruneAbove = Math.max(MIN_PRUNE_SIZE, 2 * records.size);
    return log;
  }

  entries(): IterableIterator<[string, RequestRecord]> {
    return (this.#records ?? new Map<string, RequestRecord>()).entries();
  }
}

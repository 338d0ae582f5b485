/**
 * The archiver (docs/storage.md#the-archiver): moves a member's sealed generations from the hot
 * tier to the cold one. Hot's sealed generations are the durable outbox: nothing leaves hot until
 * cold is known to hold it. For a member whose latest snapshot opened generation S:
 *
 *   1. copy: every generation g < S not archived yet is copied to cold (its rows and the snapshot
 *      that sealed it, plain idempotent writes), then cold's positions of g are compared with
 *      hot's; only when cold holds every one is `archived_below = g + 1` recorded;
 *   2. drop: every archived generation g < S - 1 is checked once more (cold holds every position
 *      hot still has), then dropped with ONE partition delete (never row tombstones), with the
 *      snapshots older than the one that sealed it; then `dropped_below = g + 1` is recorded.
 *
 * Generation S - 1 stays: the latest snapshot is complete only while the generation it sealed says
 * so (cassandra-event-store.ts), so hot keeps the latest snapshot and at most two generations.
 * Every step is idempotent and the progress only says what is certainly done, so a crash anywhere
 * is resumed by running the member again: a copy is copied again, a drop is dropped again.
 */
import cassandra from 'cassandra-driver';
import type { SnapshotRecord } from '../../event-store.ts';
import type { CassandraEventStore } from '../cassandra-event-store.ts';
import { isUnavailable, unavailable } from '../driver-errors.ts';
import { toSnapshotRecord } from '../rows.ts';
import type { ColdStore } from './cold-store.ts';

type Client = cassandra.Client;
const { types } = cassandra;

/** A point between two steps, where a test makes the archiver "crash" by throwing. */
export type ArchiveStep = 'copied' | 'dropped';

export interface ArchiverHooks {
  /** Called after a step's work and before its progress is recorded. */
  between?(step: ArchiveStep, memberId: string, generation: number): void | Promise<void>;
}

export interface ArchiveProgress {
  archivedBelow: number;
  droppedBelow: number;
}

/** Cold does not hold a row hot has: the drop is refused, and the generation archived again later. */
export class ArchiveIncompleteError extends Error {
  override name = 'ArchiveIncompleteError';
}

export class Archiver {
  readonly #read: cassandra.QueryOptions;
  readonly #write: cassandra.QueryOptions;

  constructor(
    private readonly hotClient: Client,
    private readonly hot: CassandraEventStore,
    private readonly cold: ColdStore,
    consistency: { read: number; write: number },
    private readonly hooks: ArchiverHooks = {},
    private readonly now: () => number = Date.now,
  ) {
    this.#read = { prepare: true, consistency: consistency.read };
    this.#write = { prepare: true, consistency: consistency.write, isIdempotent: true };
  }

  async #execute(query: string, params: unknown[], options: cassandra.QueryOptions, what: string): Promise<cassandra.types.ResultSet> {
    try {
      return await this.hotClient.execute(query, params, options);
    } catch (error) {
      throw isUnavailable(error) ? unavailable(error, `archiver ${what}`) : error;
    }
  }

  async progress(memberId: string): Promise<ArchiveProgress> {
    const row = (await this.#execute('SELECT archived_below, dropped_below FROM archive_progress WHERE member_id = ?', [memberId], this.#read, 'progress read')).first();
    return { archivedBelow: (row?.['archived_below'] as number | null) ?? 0, droppedBelow: (row?.['dropped_below'] as number | null) ?? 0 };
  }

  async #record(memberId: string, column: 'archived_below' | 'dropped_below', value: number): Promise<void> {
    await this.#execute(
      `UPDATE archive_progress SET ${column} = ?, updated_at = ? WHERE member_id = ? `,
      [value, types.Long.fromNumber(this.now()), memberId],
      this.#write,
      'progress write',
    );
  }

  async #hotPositions(memberId: string, generation: number): Promise<{ positions: number[]; head: number | null }> {
    const positions: number[] = [];
    let head: number | null = null;
    let pageState: string | undefined;
    do {
      const page = await this.#execute(
        'SELECT position, head_position FROM events_v2 WHERE member_id = ? AND generation = ?',
        [memberId, generation],
        { ...this.#read, fetchSize: 2000, ...(pageState ? { pageState } : {}) },
        'position read',
      );
      for (const row of page.rows) {
        if (typeof row['head_position'] === 'number') head = row['head_position'];
        if (typeof row['position'] === 'number') positions.push(row['position']);
      }
      pageState = page.pageState ?? undefined;
    } while (pageState);
    return { positions, head };
  }

  async #hotSnapshotAt(memberId: string, generation: number): Promise<SnapshotRecord | null> {
    const row = (
      await this.#execute(
        'SELECT member_id, generation, position, taken_at, schema_version, payload FROM snapshots_v2 WHERE member_id = ? AND generation = ?',
        [memberId, generation],
        this.#read,
        'snapshot read',
      )
    ).first();
    return row ? toSnapshotRecord(row) : null;
  }

  /** Throws unless cold holds every position hot has in the generation (and the snapshot that sealed it). */
  async #requireColdHolds(memberId: string, generation: number, sealingSnapshot: boolean): Promise<void> {
    const { positions, head } = await this.#hotPositions(memberId, generation);
    if (head !== null && head !== -1) throw new ArchiveIncompleteError(`member ${memberId}: generation ${generation} is not sealed in hot (head ${head})`);
    const cold = new Set(await this.cold.positions(memberId, generation));
    const missing = positions.filter((position) => !cold.has(position));
    if (missing.length > 0) throw new ArchiveIncompleteError(`member ${memberId}: cold lacks ${missing.length} of generation ${generation}'s ${positions.length} rows`);
    if (sealingSnapshot && !(await this.cold.hasSnapshot(memberId, generation + 1)) && (await this.#hotSnapshotAt(memberId, generation + 1))) {
      throw new ArchiveIncompleteError(`member ${memberId}: cold lacks the snapshot that sealed generation ${generation}`);
    }
  }

  /**
   * Archives what the member's latest snapshot sealed and drops what hot no longer needs.
   * Returns the progress after it; throws (leaving every step done so far recorded) when a tier
   * cannot be reached or cold does not hold what it should: running it again resumes.
   */
  async archiveMember(memberId: string): Promise<ArchiveProgress> {
    const latest = await this.hot.readLatestSnapshot(memberId);
    let { archivedBelow, droppedBelow } = await this.progress(memberId);
    if (!latest) return { archivedBelow, droppedBelow };
    const sealedBelow = latest.generation;
    for (let generation = Math.max(archivedBelow, droppedBelow); generation < sealedBelow; generation++) {
      const rows = [];
      for await (const row of this.hot.readGeneration(memberId, generation)) rows.push(row);
      await this.cold.writeEvents(rows);
      const sealing = await this.#hotSnapshotAt(memberId, generation + 1);
      if (sealing) await this.cold.writeSnapshot(sealing);
      await this.#requireColdHolds(memberId, generation, true);
      await this.hooks.between?.('copied', memberId, generation);
      await this.#record(memberId, 'archived_below', generation + 1);
      archivedBelow = generation + 1;
    }
    for (let generation = droppedBelow; generation < Math.min(sealedBelow - 1, archivedBelow); generation++) {
      // Checked again right before the drop: never drop a hot partition cold does not hold.
      await this.#requireColdHolds(memberId, generation, false);
      await this.#execute('DELETE FROM events_v2 WHERE member_id = ? AND generation = ?', [memberId, generation], this.#write, 'partition drop');
      // The snapshots before the one that sealed this generation: one range tombstone.
      await this.#execute('DELETE FROM snapshots_v2 WHERE member_id = ? AND generation <= ?', [memberId, generation], this.#write, 'snapshot drop');
      await this.hooks.between?.('dropped', memberId, generation);
      await this.#record(memberId, 'dropped_below', generation + 1);
      droppedBelow = generation + 1;
    }
    return { archivedBelow, droppedBelow };
  }

  /**
   * One bounded sweep: members with a snapshot in hot (the only ones with sealed generations),
   * at most `limit` of them, from `pageState` on. Returns where the next sweep goes on (null:
   * the scan went round) and the members whose archiving failed (retried by a later sweep).
   */
  async sweep(limit: number, pageState: string | null): Promise<{ next: string | null; visited: number; failed: number }> {
    let state = pageState ?? undefined;
    let visited = 0;
    let failed = 0;
    while (visited < limit) {
      const page = await this.#execute(
        'SELECT DISTINCT member_id FROM snapshots_v2',
        [],
        { ...this.#read, fetchSize: Math.min(limit - visited, 500), ...(state ? { pageState: state } : {}) },
        'sweep',
      );
      for (const row of page.rows) {
        visited += 1;
        try {
          await this.archiveMember(row['member_id'] as string);
        } catch {
          failed += 1;
        }
      }
      state = page.pageState ?? undefined;
      if (!state) return { next: null, visited, failed };
    }
    return { next: state ?? null, visited, failed };
  }
}

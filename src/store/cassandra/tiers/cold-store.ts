/**
 * The cold tier (docs/storage.md#two-tiers): the same compact tables as hot, in their own
 * keyspace (and maybe their own cluster), holding every event of every generation and every
 * snapshot under the same keys (member, generation, position). Written with plain, idempotent
 * inserts, never conditions: the hot tier fences writers, so a copy is the same row however many
 * times it is written, and a generation may be copied again after a crash without harm.
 */
import cassandra from 'cassandra-driver';
import { DEFAULT_PAGE_SIZE, type EventRecord, type SnapshotRecord } from '../../event-store.ts';
import { CassandraEventStore } from '../cassandra-event-store.ts';
import { connectToKeyspace, shutdownBounded } from '../connect.ts';
import { isUnavailable, unavailable } from '../driver-errors.ts';
import { compactLayout, type RowLayout } from '../row-layout.ts';
import { toSnapshotRecord } from '../rows.ts';
import { hostsOf, type StoreHost } from '../host-view.ts';
import type { CassandraSettings } from './tier-settings.ts';

type Client = cassandra.Client;
const { types } = cassandra;

/** Rows per batch: one partition each, kept well under Cassandra's batch size limits. */
const BATCH_ROWS = 25;

function consistencyOf(level: string): number {
  const key = level.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof types.consistencies;
  return types.consistencies[key];
}

export class ColdStore {
  /** Reads through the service's own store code: the same decoding, paging and upcasting. */
  readonly reader: CassandraEventStore;
  readonly #client: Client;
  readonly #layout: RowLayout;
  readonly #write: cassandra.QueryOptions;
  readonly #read: cassandra.QueryOptions;

  private constructor(client: Client, settings: CassandraSettings) {
    this.#client = client;
    this.reader = CassandraEventStore.over(client, settings, 'compact');
    this.#write = { prepare: true, consistency: consistencyOf(settings.writeConsistency), isIdempotent: true };
    this.#read = { prepare: true, consistency: consistencyOf(settings.readConsistency) };
    const lwt = { ...this.#write, serialConsistency: settings.serialConsistency === 'SERIAL' ? types.consistencies.serial : types.consistencies.localSerial, isIdempotent: false };
    // Rules version ids are the cold keyspace's own (claimed there once per version).
    this.#layout = compactLayout((query, params, what, serial) => this.#execute(query, params, serial ? lwt : this.#read, what));
  }

  static async connect(settings: CassandraSettings): Promise<ColdStore> {
    return new ColdStore(await connectToKeyspace(settings, { purpose: 'cold tier' }), settings);
  }

  async #execute(query: string, params: unknown[], options: cassandra.QueryOptions, what: string): Promise<cassandra.types.ResultSet> {
    try {
      return await this.#client.execute(query, params, options);
    } catch (error) {
      throw isUnavailable(error) ? unavailable(error, `cold tier ${what}`) : error;
    }
  }

  /** Copies events (each at its own key); idempotent. */
  async writeEvents(events: readonly EventRecord[]): Promise<void> {
    for (let start = 0; start < events.length; start += BATCH_ROWS) {
      const queries: { query: string; params: unknown[] }[] = [];
      for (const event of events.slice(start, start + BATCH_ROWS)) {
        for (const encoded of await this.#layout.encode(event.memberId, event.generation, event.position, [event])) {
          queries.push({ query: this.#layout.insertEvent, params: encoded.params });
        }
      }
      try {
        await this.#client.batch(queries, { ...this.#write, logged: false });
      } catch (error) {
        throw isUnavailable(error) ? unavailable(error, 'cold tier event copy') : error;
      }
    }
  }

  async writeSnapshot(snapshot: SnapshotRecord): Promise<void> {
    await this.#execute(
      'INSERT INTO snapshots_v2 (member_id, generation, position, taken_at, schema_version, payload) VALUES (?, ?, ?, ?, ?, ?)',
      [snapshot.memberId, snapshot.generation, snapshot.position, types.Long.fromNumber(snapshot.takenAt), snapshot.schemaVersion, snapshot.payload],
      this.#write,
      'snapshot copy',
    );
  }

  /** The positions cold holds in one generation, ascending (the archiver's check before a drop). */
  async positions(memberId: string, generation: number): Promise<number[]> {
    const positions: number[] = [];
    let pageState: string | undefined;
    do {
      const page = await this.#execute(
        'SELECT position FROM events_v2 WHERE member_id = ? AND generation = ?',
        [memberId, generation],
        { ...this.#read, fetchSize: DEFAULT_PAGE_SIZE * 4, ...(pageState ? { pageState } : {}) },
        'position read',
      );
      for (const row of page.rows) if (typeof row['position'] === 'number') positions.push(row['position']);
      pageState = page.pageState ?? undefined;
    } while (pageState);
    return positions;
  }

  async hasSnapshot(memberId: string, generation: number): Promise<boolean> {
    const row = (await this.#execute('SELECT position FROM snapshots_v2 WHERE member_id = ? AND generation = ?', [memberId, generation], this.#read, 'snapshot read')).first();
    return row !== null && row !== undefined;
  }

  /** The newest snapshot cold holds (every snapshot it holds was sealed in hot before it was copied). */
  async latestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    const row = (
      await this.#execute(
        'SELECT member_id, generation, position, taken_at, schema_version, payload FROM snapshots_v2 WHERE member_id = ? LIMIT 1',
        [memberId],
        this.#read,
        'snapshot read',
      )
    ).first();
    return row ? toSnapshotRecord(row) : null;
  }

  /** The cold tier's hosts as its driver sees them (GET /v1/admin/store's tiers). */
  hosts(): StoreHost[] {
    return hostsOf(this.#client);
  }

  async close(): Promise<void> {
    await shutdownBounded(this.#client);
  }
}

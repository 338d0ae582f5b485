/**
 * The migration of a keyspace from the previous row layout (`events`, `snapshots`) to the
 * compact one (`events_v2`, `snapshots_v2`): `license-accounting migrate` (docs/operations.md).
 *
 * Member by member, it copies every generation's events, the partition's static columns (head,
 * owner, sealed position) and every snapshot row, then reads both layouts back and compares
 * them record by record before it writes the member's checkpoint. It never deletes or changes
 * an old row.
 *
 *   - Resumable: a checkpoint per member records the previous layout's head it copied up to; a
 *     rerun skips the members whose head is still that one and copies the others again (same
 *     keys, same values: idempotent).
 *   - Complete only when every member is checkpointed at its current head, checked once more in
 *     a last pass (a member that changed meanwhile means an old service is still writing: the
 *     run says so and stays incomplete). Until then the service refuses the keyspace.
 *   - Once complete, running it again writes nothing.
 *   - A member that already has compact rows the migration did not write (no checkpoint) is
 *     reported and left alone: nothing of it is overwritten.
 *
 * It expects the previous release's services to be stopped: rows they write after a member's
 * copy are caught by the last pass, but not after the run completes.
 */
import cassandra from 'cassandra-driver';
import { EMPTY_HEAD, type EventRecord, type StreamHead } from '../event-store.ts';
import { CassandraEventStore, type CassandraSettings } from './cassandra-event-store.ts';
import { connectToKeyspace, shutdownBounded } from './connect.ts';
import { isUnavailable, unavailable } from './driver-errors.ts';
import { legacyStoreOver } from './legacy/legacy-store.ts';
import { COMPACT_MIGRATION, readLayoutState, type LayoutState } from './layout-state.ts';
import { compactLayout, type EncodedEvent, type RowLayout } from './row-layout.ts';

const { types } = cassandra;
type Client = cassandra.Client;
type Row = cassandra.types.Row;

const STATIC_COLUMNS = ['head_position', 'owner_epoch', 'owner_node', 'sealed_position'] as const;

const CQL = {
  legacyStatic: 'SELECT head_position, owner_epoch, owner_node, sealed_position FROM events WHERE member_id = ? AND generation = ? LIMIT 1',
  compactStatic: 'SELECT head_position, owner_epoch, owner_node, sealed_position FROM events_v2 WHERE member_id = ? AND generation = ? LIMIT 1',
  writeStatic: 'UPDATE events_v2 SET head_position = ?, owner_epoch = ?, owner_node = ?, sealed_position = ? WHERE member_id = ? AND generation = ?',
  legacySnapshots: 'SELECT generation, position, taken_at, schema_version, payload FROM snapshots WHERE member_id = ?',
  compactSnapshots: 'SELECT generation, position, taken_at, schema_version, payload FROM snapshots_v2 WHERE member_id = ?',
  writeSnapshot: 'INSERT INTO snapshots_v2 (member_id, generation, position, taken_at, schema_version, payload) VALUES (?, ?, ?, ?, ?, ?)',
  checkpoint: 'SELECT generation, position FROM layout_migration_members WHERE name = ? AND member_id = ?',
  writeCheckpoint: 'INSERT INTO layout_migration_members (name, member_id, generation, position, events, snapshots, copied_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  migration: 'SELECT state, started_at FROM layout_migrations WHERE name = ?',
  start: 'UPDATE layout_migrations SET state = ?, started_at = ? WHERE name = ?',
  restart: 'UPDATE layout_migrations SET state = ? WHERE name = ?',
  complete: 'UPDATE layout_migrations SET state = ?, completed_at = ?, members = ?, events = ? WHERE name = ?',
} as const;

/** A checkpoint written before a member's copy starts: its rows in the compact layout are the migration's own from then on. */
const COPYING = -1;

export type MemberOutcome =
  | { memberId: string; outcome: 'copied'; events: number; snapshots: number; head: StreamHead }
  | { memberId: string; outcome: 'unchanged' }
  | { memberId: string; outcome: 'problem'; message: string };

export interface MigrationReport {
  /** complete: every member copied and checked; incomplete: problems (listed) or members that changed meanwhile. */
  state: 'complete' | 'incomplete' | 'already-complete' | 'nothing-to-migrate';
  members: number;
  copied: number;
  unchanged: number;
  events: number;
  snapshots: number;
  problems: { memberId: string; message: string }[];
  /** Members whose previous-layout head moved after their copy (an old service still writing). */
  changedMeanwhile: number;
}

export interface RunOptions {
  /** Told after each member (the CLI's progress bar). */
  onMember?: (done: number, outcome: MemberOutcome) => void;
  /** Members copied at once. */
  concurrency?: number;
  /** Tests: stop (as a crash would) after this many members, before anything is marked complete. */
  stopAfter?: number;
}

function sameRecord(a: EventRecord, b: EventRecord): boolean {
  const fields: (keyof EventRecord)[] = [
    'memberId',
    'generation',
    'position',
    'aggregateName',
    'aggregateId',
    'at',
    'type',
    'schemaVersion',
    'serializer',
    'payload',
    'rulesVersion',
    'requestId',
    'correlationId',
  ];
  return fields.every((field) => (a[field] ?? null) === (b[field] ?? null));
}

function value(v: unknown): unknown {
  return v instanceof types.Long ? v.toNumber() : (v ?? null);
}

function sameColumns(a: Row | undefined, b: Row | undefined, columns: readonly string[]): boolean {
  return columns.every((column) => value(a?.[column]) === value(b?.[column]));
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export class LayoutMigration {
  readonly #client: Client;
  readonly #settings: CassandraSettings;
  readonly #legacy: CassandraEventStore;
  readonly #compact: CassandraEventStore;
  readonly #layout: RowLayout;
  readonly #read: cassandra.QueryOptions;
  readonly #serial: cassandra.QueryOptions & { consistency: number };
  readonly #write: cassandra.QueryOptions;

  private constructor(client: Client, settings: CassandraSettings) {
    this.#client = client;
    this.#settings = settings;
    this.#legacy = legacyStoreOver(client, settings);
    this.#compact = CassandraEventStore.over(client, settings, 'compact');
    const consistency = types.consistencies;
    this.#read = { prepare: true, consistency: consistencyOf(settings.readConsistency) };
    this.#serial = { prepare: true, consistency: settings.serialConsistency === 'SERIAL' ? consistency.serial : consistency.localSerial };
    // Plain writes of fixed values: a retry writes the same thing again.
    this.#write = { prepare: true, consistency: consistencyOf(settings.writeConsistency), isIdempotent: true };
    this.#layout = compactLayout((query, params, what, lwt) =>
      this.#execute(query, params, lwt ? { ...this.#write, isIdempotent: false, serialConsistency: this.#serial.consistency } : this.#read, what),
    );
  }

  /** Connects and applies the service's schema (the compact tables and the migration's own); the previous tables are only read. */
  static async connect(settings: CassandraSettings): Promise<LayoutMigration> {
    return new LayoutMigration(await connectToKeyspace(settings, { purpose: 'migrate' }), settings);
  }

  async close(): Promise<void> {
    await shutdownBounded(this.#client);
  }

  async #execute(query: string, params: unknown[], options: cassandra.QueryOptions, what: string): Promise<cassandra.types.ResultSet> {
    try {
      return await this.#client.execute(query, params, options);
    } catch (error) {
      throw isUnavailable(error) ? unavailable(error, what) : error;
    }
  }

  state(): Promise<LayoutState> {
    return readLayoutState(this.#client, this.#settings.keyspace);
  }

  /** Members of the previous layout (a paged scan of its partition keys). */
  members(): AsyncIterable<string> {
    return this.#legacy.listMembers();
  }

  async countMembers(): Promise<number> {
    let count = 0;
    for await (const _ of this.members()) count += 1;
    return count;
  }

  async run(options: RunOptions = {}): Promise<MigrationReport> {
    const report: MigrationReport = { state: 'incomplete', members: 0, copied: 0, unchanged: 0, events: 0, snapshots: 0, problems: [], changedMeanwhile: 0 };
    const state = await this.state();
    if (state.kind === 'migrated') return { ...report, state: 'already-complete', members: state.members };
    if (state.kind === 'compact' || state.kind === 'legacy-empty') return { ...report, state: 'nothing-to-migrate' };
    const started = (await this.#execute(CQL.migration, [COMPACT_MIGRATION], this.#read, 'migration state read')).first();
    if (started) await this.#execute(CQL.restart, ['running', COMPACT_MIGRATION], this.#write, 'migration state write');
    else await this.#execute(CQL.start, ['running', types.Long.fromNumber(Date.now()), COMPACT_MIGRATION], this.#write, 'migration state write');

    let done = 0;
    const stopped = await this.#forEachMember(options.concurrency ?? 8, options.stopAfter, async (memberId) => {
      const outcome = await this.migrateMember(memberId);
      done += 1;
      if (outcome.outcome === 'copied') {
        report.copied += 1;
        report.events += outcome.events;
        report.snapshots += outcome.snapshots;
      } else if (outcome.outcome === 'unchanged') report.unchanged += 1;
      else report.problems.push({ memberId, message: outcome.message });
      options.onMember?.(done, outcome);
    });
    report.members = done;
    if (stopped || report.problems.length > 0) return report;

    // The last pass: every member of the previous layout is checkpointed at its current head.
    let total = 0;
    let events = 0;
    await this.#forEachMember(options.concurrency ?? 8, undefined, async (memberId) => {
      const head = await this.#legacy.readHead(memberId);
      const checkpoint = await this.#checkpoint(memberId);
      total += 1;
      if (!checkpoint || checkpoint.generation !== head.generation || checkpoint.position !== head.position) report.changedMeanwhile += 1;
      events += head.position;
    });
    if (report.changedMeanwhile > 0) return report;
    await this.#execute(
      CQL.complete,
      ['complete', types.Long.fromNumber(Date.now()), total, types.Long.fromNumber(events), COMPACT_MIGRATION],
      this.#write,
      'migration state write',
    );
    return { ...report, state: 'complete' };
  }

  /** Runs `work` for every member, `concurrency` at a time. Returns true when stopped by `stopAfter`. */
  async #forEachMember(concurrency: number, stopAfter: number | undefined, work: (memberId: string) => Promise<void>): Promise<boolean> {
    const running = new Set<Promise<void>>();
    let started = 0;
    for await (const memberId of this.members()) {
      if (stopAfter !== undefined && started >= stopAfter) {
        await Promise.all(running);
        return true;
      }
      started += 1;
      const task: Promise<void> = work(memberId).finally(() => running.delete(task));
      running.add(task);
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);
    return false;
  }

  async #checkpoint(memberId: string): Promise<StreamHead | null> {
    const row = (await this.#execute(CQL.checkpoint, [COMPACT_MIGRATION, memberId], this.#read, 'checkpoint read')).first();
    return row ? { generation: row['generation'] as number, position: row['position'] as number } : null;
  }

  /** Copies one member (or finds it copied at its current head), then compares the two layouts. */
  async migrateMember(memberId: string): Promise<MemberOutcome> {
    const head = await this.#legacy.readHead(memberId);
    const checkpoint = await this.#checkpoint(memberId);
    if (checkpoint && checkpoint.generation === head.generation && checkpoint.position === head.position) return { memberId, outcome: 'unchanged' };
    if (!checkpoint && (await this.#compact.readHead(memberId, null)).position !== EMPTY_HEAD.position) {
      return { memberId, outcome: 'problem', message: 'the member already has events in the compact layout that this migration did not write; left as it is' };
    }
    await this.#execute(CQL.writeCheckpoint, [COMPACT_MIGRATION, memberId, COPYING, COPYING, 0, 0, types.Long.fromNumber(Date.now())], this.#write, 'checkpoint write');
    let events = 0;
    for (let generation = 0; generation <= head.generation; generation++) events += await this.#copyGeneration(memberId, generation);
    const snapshots = await this.#copySnapshots(memberId);
    const difference = await this.#compare(memberId, head);
    if (difference !== null) return { memberId, outcome: 'problem', message: `the copy differs from the previous layout: ${difference}` };
    await this.#execute(
      CQL.writeCheckpoint,
      [COMPACT_MIGRATION, memberId, head.generation, head.position, events, snapshots.length, types.Long.fromNumber(Date.now())],
      this.#write,
      'checkpoint write',
    );
    return { memberId, outcome: 'copied', events, snapshots: snapshots.length, head };
  }

  async #copyGeneration(memberId: string, generation: number): Promise<number> {
    // SERIAL: completes any Paxos round an old writer left in flight, so the head read is final.
    const statics = (await this.#execute(CQL.legacyStatic, [memberId, generation], this.#serial, 'head read')).first();
    const records = await collect(this.#legacy.readGeneration(memberId, generation));
    records.sort((a, b) => a.position - b.position);
    // Plain writes of fixed values (a rerun writes the same again); nothing reads this layout
    // before the migration completes, so a command's rows need not land together.
    const encoded: EncodedEvent[] = [];
    for (const record of records) encoded.push(...(await this.#layout.encode(memberId, generation, record.position, [record])));
    for (let start = 0; start < encoded.length; start += 16) {
      await Promise.all(encoded.slice(start, start + 16).map((event) => this.#execute(this.#layout.insertEvent, event.params, this.#write, 'event copy')));
    }
    const present = (column: string): unknown => statics?.[column] ?? null;
    if (STATIC_COLUMNS.some((column) => present(column) !== null)) {
      const params = STATIC_COLUMNS.map((column) => present(column) ?? types.unset);
      await this.#execute(CQL.writeStatic, [...params, memberId, generation], this.#write, 'head copy');
    }
    return records.length;
  }

  async #copySnapshots(memberId: string): Promise<Row[]> {
    const rows = await this.#allRows(CQL.legacySnapshots, [memberId]);
    for (const row of rows) {
      await this.#execute(
        CQL.writeSnapshot,
        [memberId, row['generation'], row['position'], row['taken_at'], row['schema_version'], row['payload'] ?? types.unset],
        this.#write,
        'snapshot copy',
      );
    }
    return rows;
  }

  async #allRows(query: string, params: unknown[]): Promise<Row[]> {
    const rows: Row[] = [];
    let pageState: string | undefined;
    do {
      const page = await this.#execute(query, params, { ...this.#read, fetchSize: 100, ...(pageState ? { pageState } : {}) }, 'read');
      rows.push(...page.rows);
      pageState = page.pageState ?? undefined;
    } while (pageState);
    return rows;
  }

  /** Null when both layouts hold the same member (every record, head and snapshot); else what differs. */
  async #compare(memberId: string, head: StreamHead): Promise<string | null> {
    for (let generation = 0; generation <= head.generation; generation++) {
      const before = await collect(this.#legacy.readGeneration(memberId, generation));
      before.sort((a, b) => a.position - b.position);
      const after = await collect(this.#compact.readGeneration(memberId, generation));
      if (before.length !== after.length) return `generation ${generation}: ${before.length} event(s) before, ${after.length} after`;
      for (const [index, record] of before.entries()) {
        const copy = after[index] as EventRecord;
        if (!sameRecord(record, copy)) return `generation ${generation} position ${record.position}: ${JSON.stringify(record)} became ${JSON.stringify(copy)}`;
      }
      const a = (await this.#execute(CQL.legacyStatic, [memberId, generation], this.#read, 'head read')).first();
      const b = (await this.#execute(CQL.compactStatic, [memberId, generation], this.#read, 'head read')).first();
      if (!sameColumns(a, b, STATIC_COLUMNS)) return `generation ${generation}: head, owner or sealed position differ`;
    }
    const before = await this.#allRows(CQL.legacySnapshots, [memberId]);
    const after = await this.#allRows(CQL.compactSnapshots, [memberId]);
    const columns = ['generation', 'position', 'taken_at', 'schema_version', 'payload'];
    if (before.length !== after.length || before.some((row, index) => !sameColumns(row, after[index], columns))) return 'snapshot rows differ';
    const latestBefore = await this.#legacy.readLatestSnapshot(memberId);
    const latestAfter = await this.#compact.readLatestSnapshot(memberId);
    if (JSON.stringify(latestBefore) !== JSON.stringify(latestAfter)) return 'the latest snapshot differs';
    const headAfter = await this.#compact.readHead(memberId, latestAfter);
    if (headAfter.generation !== head.generation || headAfter.position !== head.position)
      return `head ${head.generation}/${head.position} became ${headAfter.generation}/${headAfter.position}`;
    return null;
  }
}

function consistencyOf(level: string): number {
  const key = level.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const consistency: unknown = (types.consistencies as Record<string, unknown>)[key];
  if (typeof consistency !== 'number') throw new Error(`unknown consistency ${level}`);
  return consistency;
}

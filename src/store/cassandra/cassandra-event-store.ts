/**
 * The production event store on Apache Cassandra (schema: cluster/cassandra/schema.cql and
 * compact-tables.ts). Rows are laid out by a RowLayout (row-layout.ts): the service's is the
 * compact one (events_v2, snapshots_v2); the previous one (legacy/) is only read by the migration.
 *
 * Concurrency control: a generation's partition carries the member's head position in a
 * static column. An append is one single-partition conditional batch: `UPDATE head_position
 * IF head_position = <expected>` plus the event inserts, so a command's events land all or
 * nothing and a stale writer is refused by Paxos. A snapshot seals its generation (head -1),
 * so a writer that missed the snapshot is refused too.
 *
 * Snapshot protocol, crash-safe in every step:
 *   1. seal generation g: `SET head_position = -1, sealed_position = P IF head_position = P`
 *      (and, in a cluster, `AND owner = <mine>`); if refused, nothing was written: a conflict;
 *   2. insert the snapshot row (member, g+1);
 *   3. open generation g+1: `INSERT head_position = P IF NOT EXISTS`.
 * Only the writer whose seal Paxos accepted ever writes a snapshot row, so a stale writer (a
 * lost race, or an owner fenced off while it slept) never touches one. A crash after step 1
 * leaves g sealed without a row for g+1: readers then start from the snapshot before, replay g
 * up to its sealed position and go on in g+1, which the first append there opens (checking 1).
 *
 * Ownership fencing (cluster): the same static row carries the member's owner (owner_epoch,
 * owner_node). A claim sets it with a conditional update that only ever raises the epoch; a
 * fenced append or seal adds `AND owner_epoch = <mine> AND owner_node = <mine>` to its condition,
 * so once another node has claimed the member, Paxos refuses every write of the old owner, even
 * one that wakes up from a long pause with a perfectly good head in memory.
 */
import cassandra from 'cassandra-driver';
import type { ServiceConfig } from '../../config/types.ts';
import { StoreUnavailableError } from '../../errors/catalog.ts';
import {
  ConcurrencyConflictError,
  DEFAULT_PAGE_SIZE,
  expectedOwnerOf,
  isStaleOwner,
  mayClaim,
  OwnershipFencedError,
  sameFence,
  type OwnedHead,
  type OwnershipFence,
  type WriteFence,
  type EventRecord,
  type EventStore,
  type NewEventRecord,
  type NewSnapshot,
  type ReadOptions,
  type RulesVersionRecord,
  type SnapshotRecord,
  type StreamHead,
} from '../event-store.ts';
import { isUnavailable, isUnknownOutcome, unavailable } from './driver-errors.ts';
import { connectToKeyspace, shutdownBounded } from './connect.ts';
import { refuseUnmigratedKeyspace } from './layout-state.ts';
import { compactLayout, type EncodedEvent, type RowLayout } from './row-layout.ts';
import { num, toSnapshotRecord } from './rows.ts';

const { types } = cassandra;
type Client = cassandra.Client;

const SEALED = -1;

/** The store's statements for a layout's tables (table names are constants of the layouts). */
function statements(layout: RowLayout) {
  const { events, snapshots } = layout.tables;
  return {
    advanceHead: `UPDATE ${events} SET head_position = ? WHERE member_id = ? AND generation = ? IF head_position = ?`,
    seal: `UPDATE ${events} SET head_position = -1, sealed_position = ? WHERE member_id = ? AND generation = ? IF head_position = ?`,
    sealFenced: `UPDATE ${events} SET head_position = -1, sealed_position = ?, owner_epoch = ?, owner_node = ? WHERE member_id = ? AND generation = ? IF head_position = ? AND owner_epoch = ? AND owner_node = ?`,
    // The fenced form: the head moves only while the expected owner holds the member (and the
    // owner is written again, which opens a generation's ownership in the crash-recovery case).
    advanceHeadFenced: `UPDATE ${events} SET head_position = ?, owner_epoch = ?, owner_node = ? WHERE member_id = ? AND generation = ? IF head_position = ? AND owner_epoch = ? AND owner_node = ?`,
    claimOwner: `UPDATE ${events} SET owner_epoch = ?, owner_node = ? WHERE member_id = ? AND generation = ? IF head_position = ? AND owner_epoch = ? AND owner_node = ?`,
    readStatic: `SELECT head_position, owner_epoch, owner_node, sealed_position FROM ${events} WHERE member_id = ? AND generation = ? LIMIT 1`,
    snapshots: `SELECT member_id, generation, position, taken_at, schema_version, payload FROM ${snapshots} WHERE member_id = ?`,
    snapshotAt: `SELECT member_id, generation, position, taken_at, schema_version, payload FROM ${snapshots} WHERE member_id = ? AND generation = ?`,
    insertSnapshot: `INSERT INTO ${snapshots} (member_id, generation, position, taken_at, schema_version, payload) VALUES (?, ?, ?, ?, ?, ?)`,
    openGeneration: `INSERT INTO ${events} (member_id, generation, head_position, owner_epoch, owner_node) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS`,
    insertRules: 'INSERT INTO rules_versions (version, rules_json, first_seen_at) VALUES (?, ?, ?) IF NOT EXISTS',
    readRules: 'SELECT version, rules_json, first_seen_at FROM rules_versions WHERE version = ?',
    // Partition keys only (a token-range scan, paged): every member has a generation-0 partition
    // (its first append opens it), so yielding the generation-0 keys lists each member once.
    partitions: `SELECT DISTINCT member_id, generation FROM ${events}`,
  } as const;
}

function long(value: number): cassandra.types.Long {
  return types.Long.fromNumber(value);
}

/** The static head of a generation as a read or a refused CAS returns it; null when the partition has none. */
function headPositionOf(result: cassandra.types.ResultSet): number | null {
  const value: unknown = result.first()?.['head_position'];
  return value === undefined || value === null ? null : (value as number);
}

/** Where a snapshot sealed this generation; null when it is not sealed (or was sealed before the column existed). */
function sealedPositionOf(result: cassandra.types.ResultSet): number | null {
  const value: unknown = result.first()?.['sealed_position'];
  return typeof value === 'number' ? value : null;
}

/** The owner in a generation's static row (a read or a refused fenced CAS); null when unclaimed. */
function ownerOf(result: cassandra.types.ResultSet): OwnershipFence | null {
  const row = result.first();
  const epoch: unknown = row?.['owner_epoch'];
  const node: unknown = row?.['owner_node'];
  return typeof epoch === 'number' && typeof node === 'string' ? { epoch, node } : null;
}

/**
 * May a fenced writer open a generation that a crash left unopened (sealed before it, no static
 * row or one holding only a claim)? Its holder is the node that claimed it, else the owner that
 * sealed the generation before. The holder may; so may a newer owner taking the member over from
 * the holder (the sealer died mid-snapshot and the member moved). Anyone else is a stale writer.
 */
function mayOpenAfterCrash(fence: WriteFence, sealer: OwnershipFence | null, claimant: OwnershipFence | null): boolean {
  const holder = claimant ?? sealer;
  if (!mayClaim(sealer, fence)) return false;
  if (sameFence(holder, fence)) return true;
  return fence.takeOverFrom !== undefined && sameFence(fence.takeOverFrom, holder) && mayClaim(holder, fence);
}

/** A write taking the member over from an owner that is not older than its fence is stale before it starts. */
function refuseBackwardTakeOver(memberId: string, fence: WriteFence | null | undefined): void {
  if (fence?.takeOverFrom && !mayClaim(fence.takeOverFrom, fence)) throw new OwnershipFencedError(memberId, fence, fence.takeOverFrom);
}

interface CasOutcome {
  applied: boolean;
  current: number | null;
  /** The owner the refused CAS found (fenced writes only). */
  owner?: OwnershipFence | null;
}

export type CassandraSettings = ServiceConfig['cassandra'];

export class CassandraEventStore implements EventStore {
  readonly kind = 'cassandra';
  readonly #client: Client;
  readonly #ownsClient: boolean;
  readonly #read: cassandra.QueryOptions;
  readonly #write: cassandra.QueryOptions;
  readonly #serialRead: cassandra.QueryOptions;
  readonly #layout: RowLayout;
  readonly #cql: ReturnType<typeof statements>;

  private constructor(client: Client, settings: CassandraSettings, layout: RowLayout | 'compact', ownsClient: boolean) {
    this.#client = client;
    this.#ownsClient = ownsClient;
    const consistency = types.consistencies;
    const serial = consistency[settings.serialConsistency === 'SERIAL' ? 'serial' : 'localSerial'];
    this.#read = { prepare: true, consistency: consistency[camel(settings.readConsistency)] };
    // Appends are not idempotent as plain retries (a retried CAS may report "not applied" for
    // its own earlier success), so the driver must never retry or speculate them.
    this.#write = { prepare: true, consistency: consistency[camel(settings.writeConsistency)], serialConsistency: serial, isIdempotent: false };
    this.#serialRead = { prepare: true, consistency: serial };
    this.#layout = layout === 'compact' ? compactLayout((query, params, what, lwt) => this.#execute(query, params, lwt ? this.#write : this.#read, what)) : layout;
    this.#cql = statements(this.#layout);
  }

  /**
   * Connects, applies the schema and returns the store. An unreachable cluster is a
   * StoreUnavailableError naming the contact points, not a retry loop. A keyspace that still
   * holds events in the previous layout, not (completely) migrated, is refused with an error
   * that says what to run (layout-state.ts).
   */
  static async connect(settings: CassandraSettings, observe: { requestTracker?: cassandra.tracker.RequestTracker } = {}): Promise<CassandraEventStore> {
    const client = await connectToKeyspace(settings, observe);
    try {
      await refuseUnmigratedKeyspace(client, settings.keyspace);
    } catch (error) {
      await shutdownBounded(client);
      throw error;
    }
    return new CassandraEventStore(client, settings, 'compact', true);
  }

  /**
   * A store on a client already connected to the keyspace, in a given layout: the migration
   * reads the previous layout and writes the compact one through the same protocol. `close`
   * leaves the client open unless `ownsClient`.
   */
  static over(client: Client, settings: CassandraSettings, layout: RowLayout | 'compact', options: { ownsClient?: boolean } = {}): CassandraEventStore {
    return new CassandraEventStore(client, settings, layout, options.ownsClient ?? false);
  }

  /** The layout's tables (what the migration and the tools name in their reports). */
  get tables(): RowLayout['tables'] {
    return this.#layout.tables;
  }

  async #execute(query: string, params: unknown[], options: cassandra.QueryOptions, what: string): Promise<cassandra.types.ResultSet> {
    try {
      return await this.#client.execute(query, params, options);
    } catch (error) {
      throw isUnavailable(error) ? unavailable(error, what) : error;
    }
  }

  async readHead(memberId: string, latest?: SnapshotRecord | null): Promise<StreamHead> {
    return (await this.#readHead(memberId, latest, false)).head;
  }

  readHeadAndOwner(memberId: string, latest?: SnapshotRecord | null): Promise<OwnedHead> {
    return this.#readHead(memberId, latest, true);
  }

  async #readHead(memberId: string, latest: SnapshotRecord | null | undefined, withOwner: boolean): Promise<OwnedHead> {
    const snapshot = latest !== undefined ? latest : await this.readLatestSnapshot(memberId);
    let generation = snapshot?.generation ?? 0;
    let position = snapshot?.position ?? 0;
    let sealer: OwnershipFence | null | undefined;
    // A sealed generation whose snapshot row is missing (a crash between seal and row) hands
    // over to the next one at its sealed position. Bounded: each hop needs such a crash.
    for (let hops = 0; hops < 1000; hops++) {
      const row = await this.#execute(this.#cql.readStatic, [memberId, generation], this.#read, 'head read');
      const head = headPositionOf(row);
      if (head !== SEALED) {
        let owner = ownerOf(row);
        if (withOwner && owner === null && generation > 0) {
          // A generation not opened yet (a crash between seal and open): its owner is, until
          // someone opens it, the one that sealed the generation before.
          sealer ??= ownerOf(await this.#execute(this.#cql.readStatic, [memberId, generation - 1], this.#read, 'owner read'));
          owner = sealer;
        }
        return { head: { generation, position: head ?? position }, owner };
      }
      sealer = ownerOf(row);
      position = sealedPositionOf(row) ?? position;
      generation += 1;
    }
    throw new Error(`member ${memberId}: over 1000 sealed generations without a snapshot row`);
  }

  async #headPosition(memberId: string, generation: number, options: cassandra.QueryOptions): Promise<number | null> {
    const result = await this.#execute(this.#cql.readStatic, [memberId, generation], options, 'head read');
    return headPositionOf(result);
  }

  async append(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): Promise<StreamHead> {
    refuseBackwardTakeOver(memberId, fence);
    const next: StreamHead = { generation: expected.generation, position: expected.position + events.length };
    // A partition not written yet has no head: the expected value is null, not 0.
    const opening = expected.generation === 0 && expected.position === 0;
    let encoded: EncodedEvent[];
    try {
      encoded = await this.#layout.encode(memberId, expected.generation, expected.position + 1, events);
    } catch (error) {
      // Only the rules version's id can need the store here (once per version): nothing was written.
      throw isUnavailable(error) ? unavailable(error, 'append (rules version id)', 'not-applied') : error;
    }
    const write = { memberId, expected, next, encoded, fence: fence ?? null };
    let outcome = await this.#conditionalAppend(write, opening ? null : expected.position, fence ? expectedOwnerOf(fence) : null);
    if (outcome.applied) return next;
    this.#refuseStaleOwner(memberId, fence, outcome);
    if (outcome.current === null && expected.generation > 0) {
      // Crash recovery: a snapshot sealed the previous generation but never opened this one.
      const opens = await this.#generationOpensAt(memberId, expected);
      if (opens.opens) {
        if (fence && !mayOpenAfterCrash(fence, opens.previousOwner, outcome.owner ?? null)) throw new OwnershipFencedError(memberId, fence, outcome.owner ?? opens.previousOwner);
        outcome = await this.#conditionalAppend(write, null, outcome.owner ?? null);
        if (outcome.applied) return next;
        this.#refuseStaleOwner(memberId, fence, outcome);
      }
    }
    throw new ConcurrencyConflictError(memberId, expected, null);
  }

  /**
   * A fenced CAS refused because a newer owner holds the member now: that, not a head conflict.
   * (An owner the writer may still take over means it lost a race: a conflict, retried on fresh state.)
   */
  #refuseStaleOwner(memberId: string, fence: WriteFence | null | undefined, outcome: CasOutcome): void {
    if (fence && outcome.owner !== undefined && isStaleOwner(outcome.owner, fence)) throw new OwnershipFencedError(memberId, fence, outcome.owner);
  }

  async claim(memberId: string, fence: OwnershipFence): Promise<void> {
    // Bounded: each round either claims, finds a newer owner, or saw a snapshot or claim land
    // between its read and its CAS (then it reads again).
    for (let round = 0; round < 5; round++) {
      const { generation } = await this.readHead(memberId);
      const row = await this.#execute(this.#cql.readStatic, [memberId, generation], this.#serialRead, 'owner read');
      const head = headPositionOf(row);
      const owner = ownerOf(row);
      if (head === SEALED) continue; // a snapshot is opening the next generation: read again
      if (!mayClaim(owner, fence)) throw new OwnershipFencedError(memberId, fence, owner);
      if (owner === null && generation > 0) {
        // A generation nobody opened (its owner crashed between seal and open): the owner that
        // sealed the one before is the one to outrank.
        const sealer = ownerOf(await this.#execute(this.#cql.readStatic, [memberId, generation - 1], this.#serialRead, 'owner read'));
        if (!mayClaim(sealer, fence)) throw new OwnershipFencedError(memberId, fence, sealer);
      }
      if (sameFence(owner, fence)) return;
      const result = await this.#execute(
        this.#cql.claimOwner,
        [fence.epoch, fence.node, memberId, generation, head, owner?.epoch ?? null, owner?.node ?? null],
        this.#write,
        'ownership claim',
      );
      if (result.wasApplied()) return;
    }
    throw new StoreUnavailableError(`member ${memberId}: could not claim ownership (the member kept changing); retry`, { outcome: 'not-applied' });
  }

  async #conditionalAppend(
    write: { memberId: string; expected: StreamHead; next: StreamHead; encoded: readonly EncodedEvent[]; fence: WriteFence | null },
    expectedHead: number | null,
    expectedOwner: OwnershipFence | null,
  ): Promise<CasOutcome> {
    const { memberId, expected, next, encoded, fence } = write;
    const head = fence
      ? {
          query: this.#cql.advanceHeadFenced,
          params: [next.position, fence.epoch, fence.node, memberId, expected.generation, expectedHead, expectedOwner?.epoch ?? null, expectedOwner?.node ?? null],
        }
      : { query: this.#cql.advanceHead, params: [next.position, memberId, expected.generation, expectedHead] };
    const queries = [head, ...encoded.map((event) => ({ query: this.#layout.insertEvent, params: event.params }))];
    try {
      // One partition, one table: Cassandra applies the batch atomically and in isolation.
      const result = await this.#client.batch(queries, { ...this.#write, logged: false });
      if (result.wasApplied()) return { applied: true, current: next.position };
      return { applied: false, current: headPositionOf(result), ...(fence ? { owner: ownerOf(result) } : {}) };
    } catch (error) {
      if (isUnknownOutcome(error)) return this.#resolveUnknownAppend(memberId, expected, next, encoded, error);
      throw isUnavailable(error) ? unavailable(error, 'append') : error;
    }
  }

  /**
   * The coordinator timed out on our conditional batch: it may have been applied. A SERIAL
   * read finishes any Paxos round still in flight, so what it returns is final: if the head
   * is ours and our first event is there, the append happened. Never blindly write again.
   */
  async #resolveUnknownAppend(memberId: string, expected: StreamHead, next: StreamHead, encoded: readonly EncodedEvent[], cause: unknown): Promise<CasOutcome> {
    try {
      const head = await this.#headPosition(memberId, expected.generation, this.#serialRead);
      const first = encoded[0];
      if (head === next.position && first) {
        const found = (await this.#client.execute(this.#layout.readBack, first.key, this.#serialRead)).first();
        if (found && first.isSame(found)) return { applied: true, current: head };
      }
      if (head === expected.position || (head === null && expected.position === 0)) {
        throw unavailable(cause, 'append (not applied)', 'not-applied');
      }
      return { applied: false, current: head };
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw unavailable(error, 'append (outcome unknown, read-back failed)', 'unknown');
    }
  }

  /**
   * Whether `expected` is exactly where a sealed generation handed over to this one, and who
   * owned the sealed generation (a fenced writer may open the new one only as that owner).
   */
  async #generationOpensAt(memberId: string, expected: StreamHead): Promise<{ opens: boolean; previousOwner: OwnershipFence | null }> {
    const previous = await this.#execute(this.#cql.readStatic, [memberId, expected.generation - 1], this.#serialRead, 'head read');
    if (headPositionOf(previous) !== SEALED) return { opens: false, previousOwner: null };
    let sealedAt = sealedPositionOf(previous);
    if (sealedAt === null) {
      // Sealed before generations recorded where: the snapshot row says (it was written first then).
      const snapshot = (await this.#execute(this.#cql.snapshotAt, [memberId, expected.generation], this.#read, 'snapshot read')).first();
      sealedAt = snapshot ? (snapshot['position'] as number) : null;
    }
    return { opens: sealedAt === expected.position, previousOwner: ownerOf(previous) };
  }

  async *readGeneration(memberId: string, generation: number, options: ReadOptions = {}): AsyncIterable<EventRecord> {
    const fetchSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    let pageState: string | undefined;
    do {
      const page = await this.#execute(this.#layout.readGeneration, [memberId, generation], { ...this.#read, fetchSize, ...(pageState ? { pageState } : {}) }, 'event read');
      yield* await this.#layout.decode(memberId, generation, page.rows);
      pageState = page.pageState ?? undefined;
    } while (pageState);
  }

  async readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    let pageState: string | undefined;
    do {
      const page = await this.#execute(this.#cql.snapshots, [memberId], { ...this.#read, fetchSize: 5, ...(pageState ? { pageState } : {}) }, 'snapshot read');
      for (const row of page.rows) {
        const snapshot = toSnapshotRecord(row);
        // Only a snapshot whose previous generation is sealed is complete (see the protocol above).
        if ((await this.#headPosition(memberId, snapshot.generation - 1, this.#read)) === SEALED) return snapshot;
      }
      pageState = page.pageState ?? undefined;
    } while (pageState);
    return null;
  }

  async writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot, fence?: WriteFence | null): Promise<StreamHead> {
    refuseBackwardTakeOver(memberId, fence);
    const next: StreamHead = { generation: expected.generation + 1, position: expected.position };
    // 1. Seal first: only the writer Paxos lets through goes on to write a row.
    let sealed = await this.#seal(memberId, expected, expected.position, fence ?? null, fence ? expectedOwnerOf(fence) : null);
    const claimedByAnother = fence !== null && fence !== undefined && sealed.owner !== undefined && isStaleOwner(sealed.owner, fence);
    if (!sealed.applied && sealed.current === null && expected.generation > 0 && !claimedByAnother) {
      const opens = await this.#generationOpensAt(memberId, expected);
      if (opens.opens && (!fence || mayOpenAfterCrash(fence, opens.previousOwner, sealed.owner ?? null)))
        sealed = await this.#seal(memberId, expected, null, fence ?? null, sealed.owner ?? null);
    }
    if (!sealed.applied) {
      this.#refuseStaleOwner(memberId, fence, sealed);
      throw new ConcurrencyConflictError(memberId, expected, null);
    }
    // 2. The row, then 3. the next generation. A failure from here on leaves the seal: readers
    // and the next append go on from the sealed position (see the protocol above).
    const params = [memberId, next.generation];
    await this.#execute(this.#cql.insertSnapshot, [...params, next.position, long(snapshot.takenAt), snapshot.schemaVersion, snapshot.payload], this.#write, 'snapshot write');
    // Unset, not null, without a fence: a null would write a tombstone.
    await this.#execute(this.#cql.openGeneration, [...params, next.position, fence?.epoch ?? types.unset, fence?.node ?? types.unset], this.#write, 'generation open');
    return next;
  }

  async #seal(memberId: string, expected: StreamHead, expectedHead: number | null, fence: WriteFence | null, expectedOwner: OwnershipFence | null): Promise<CasOutcome> {
    const result = fence
      ? await this.#execute(
          this.#cql.sealFenced,
          [expected.position, fence.epoch, fence.node, memberId, expected.generation, expectedHead, expectedOwner?.epoch ?? null, expectedOwner?.node ?? null],
          this.#write,
          'generation seal',
        )
      : await this.#execute(this.#cql.seal, [expected.position, memberId, expected.generation, expectedHead], this.#write, 'generation seal');
    return { applied: result.wasApplied(), current: headPositionOf(result), ...(fence ? { owner: ownerOf(result) } : {}) };
  }

  async saveRulesVersion(version: string, rulesJson: string, firstSeenAt: number): Promise<void> {
    // A lightweight transaction: of two services saving the same new version, the first wins.
    await this.#execute(this.#cql.insertRules, [version, rulesJson, long(firstSeenAt)], { ...this.#write, isIdempotent: true }, 'rules version write');
  }

  async readRulesVersion(version: string): Promise<RulesVersionRecord | null> {
    const row = (await this.#execute(this.#cql.readRules, [version], this.#read, 'rules version read')).first();
    if (!row) return null;
    return { version: row['version'] as string, rulesJson: row['rules_json'] as string, firstSeenAt: num(row['first_seen_at']) };
  }

  async *listMembers(): AsyncIterable<string> {
    let pageState: string | undefined;
    do {
      const page = await this.#execute(this.#cql.partitions, [], { ...this.#read, fetchSize: DEFAULT_PAGE_SIZE, ...(pageState ? { pageState } : {}) }, 'member list');
      for (const row of page.rows) if ((row['generation'] as number) === 0) yield row['member_id'] as string;
      pageState = page.pageState ?? undefined;
    } while (pageState);
  }

  async close(): Promise<void> {
    if (this.#ownsClient) await shutdownBounded(this.#client);
  }
}

function camel(level: string): keyof typeof types.consistencies {
  const map: Record<string, keyof typeof types.consistencies> = {
    ONE: 'one',
    TWO: 'two',
    THREE: 'three',
    QUORUM: 'quorum',
    ALL: 'all',
    LOCAL_QUORUM: 'localQuorum',
    EACH_QUORUM: 'eachQuorum',
    LOCAL_ONE: 'localOne',
  };
  const key = map[level];
  if (!key) throw new Error(`unknown consistency ${level}`);
  return key;
}

/**
 * The embedded event store: one SQLite file, so the service runs with no server at all.
 * WAL journal with synchronous=FULL: a commit is on disk before append() resolves, so every
 * acknowledged event survives a crash or power loss.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  ConcurrencyConflictError,
  DEFAULT_PAGE_SIZE,
  EMPTY_HEAD,
  mayClaim,
  OwnershipFencedError,
  sameFence,
  sameHead,
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
import type { AppendOutcome, AppendRequest, BatchAppender } from '../group-commit.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS member_heads (
  member_id  TEXT    NOT NULL PRIMARY KEY,
  generation INTEGER NOT NULL,
  position   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  member_id      TEXT    NOT NULL,
  generation     INTEGER NOT NULL,
  aggregate_name TEXT    NOT NULL,
  aggregate_id   TEXT    NOT NULL,
  at             INTEGER NOT NULL,
  position       INTEGER NOT NULL,
  type           TEXT    NOT NULL,
  schema_version INTEGER NOT NULL,
  serializer     TEXT    NOT NULL,
  payload        TEXT    NOT NULL,
  rules_version  TEXT    NOT NULL,
  request_id     TEXT,
  correlation_id TEXT,
  PRIMARY KEY (member_id, generation, aggregate_name, aggregate_id, at, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
  member_id      TEXT    NOT NULL,
  generation     INTEGER NOT NULL,
  position       INTEGER NOT NULL,
  taken_at       INTEGER NOT NULL,
  schema_version INTEGER NOT NULL,
  payload        TEXT    NOT NULL,
  PRIMARY KEY (member_id, generation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS member_owners (
  member_id TEXT    NOT NULL PRIMARY KEY,
  epoch     INTEGER NOT NULL,
  node      TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rules_versions (
  version       TEXT    NOT NULL PRIMARY KEY,
  rules_json    TEXT    NOT NULL,
  first_seen_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

interface EventRow {
  member_id: string;
  generation: number;
  aggregate_name: string;
  aggregate_id: string;
  at: number;
  position: number;
  type: string;
  schema_version: number;
  serializer: string;
  payload: string;
  rules_version: string;
  request_id: string | null;
  correlation_id: string | null;
}

interface SnapshotRow {
  member_id: string;
  generation: number;
  position: number;
  taken_at: number;
  schema_version: number;
  payload: string;
}

function toEventRecord(row: EventRow): EventRecord {
  return {
    memberId: row.member_id,
    generation: row.generation,
    aggregateName: row.aggregate_name,
    aggregateId: row.aggregate_id,
    at: row.at,
    position: row.position,
    type: row.type,
    schemaVersion: row.schema_version,
    serializer: row.serializer,
    payload: row.payload,
    rulesVersion: row.rules_version,
    requestId: row.request_id,
    correlationId: row.correlation_id ?? null,
  };
}

export class SqliteEventStore implements EventStore, BatchAppender {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #statements;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    // Files written before events carried a correlation id get the column (NULL for old rows).
    const columns = this.#db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('events')").all();
    if (!columns.some((column) => column.name === 'correlation_id')) this.#db.exec('ALTER TABLE events ADD COLUMN correlation_id TEXT');
    // A generation reads in position order (files written before get the index once, at open).
    this.#db.exec('CREATE INDEX IF NOT EXISTS events_by_position ON events (member_id, generation, position)');
    const db = this.#db;
    this.#statements = {
      head: db.prepare<[string], { generation: number; position: number }>('SELECT generation, position FROM member_heads WHERE member_id = ?'),
      owner: db.prepare<[string], OwnershipFence>('SELECT epoch, node FROM member_owners WHERE member_id = ?'),
      upsertOwner: db.prepare(
        'INSERT INTO member_owners (member_id, epoch, node) VALUES (?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET epoch = excluded.epoch, node = excluded.node',
      ),
      upsertHead: db.prepare(
        'INSERT INTO member_heads (member_id, generation, position) VALUES (?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET generation = excluded.generation, position = excluded.position',
      ),
      insertEvent: db.prepare(
        'INSERT INTO events (member_id, generation, aggregate_name, aggregate_id, at, position, type, schema_version, serializer, payload, rules_version, request_id, correlation_id) VALUES (@memberId, @generation, @aggregateName, @aggregateId, @at, @position, @type, @schemaVersion, @serializer, @payload, @rulesVersion, @requestId, @correlationId)',
      ),
      // Keyset paging in position order (events_by_position): each page starts after the last
      // position of the previous one, so no cursor stays open across awaits (better-sqlite3
      // forbids writes during an iteration).
      page: db.prepare<[string, number, number, number], EventRow>('SELECT * FROM events WHERE member_id = ? AND generation = ? AND position > ? ORDER BY position LIMIT ?'),
      latestSnapshot: db.prepare<[string], SnapshotRow>('SELECT * FROM snapshots WHERE member_id = ? ORDER BY generation DESC LIMIT 1'),
      // First write wins: a version names one rule set, so a later save of it changes nothing.
      insertRules: db.prepare('INSERT INTO rules_versions (version, rules_json, first_seen_at) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING'),
      readRules: db.prepare<[string], { version: string; rules_json: string; first_seen_at: number }>(
        'SELECT version, rules_json, first_seen_at FROM rules_versions WHERE version = ?',
      ),
      membersFirstPage: db.prepare<[number], { member_id: string }>('SELECT member_id FROM member_heads ORDER BY member_id LIMIT ?'),
      membersNextPage: db.prepare<[string, number], { member_id: string }>('SELECT member_id FROM member_heads WHERE member_id > ? ORDER BY member_id LIMIT ?'),
      insertSnapshot: db.prepare('INSERT INTO snapshots (member_id, generation, position, taken_at, schema_version, payload) VALUES (?, ?, ?, ?, ?, ?)'),
    };
  }

  #readHead(memberId: string): StreamHead {
    return this.#statements.head.get(memberId) ?? EMPTY_HEAD;
  }

  async readHead(memberId: string): Promise<StreamHead> {
    return { ...this.#readHead(memberId) };
  }

  async readHeadAndOwner(memberId: string): Promise<OwnedHead> {
    return this.#db.transaction(() => ({ head: { ...this.#readHead(memberId) }, owner: this.#ownerOf(memberId) }))();
  }

  #ownerOf(memberId: string): OwnershipFence | null {
    const row = this.#statements.owner.get(memberId);
    return row ? { epoch: row.epoch, node: row.node } : null;
  }

  /**
   * Inside a transaction: a fenced write goes on only while its fence owns the member, or when it
   * takes the member over from the owner it names (WriteFence). Returns whether the write claims.
   */
  #checkFence(memberId: string, fence: WriteFence | null | undefined): boolean {
    if (!fence) return false;
    const owner = this.#ownerOf(memberId);
    if (sameFence(owner, fence)) return false;
    if (fence.takeOverFrom !== undefined && sameFence(owner, fence.takeOverFrom) && mayClaim(owner, fence)) return true;
    throw new OwnershipFencedError(memberId, fence, owner);
  }

  /** Claims after the head check passed, so a refused write claims nothing. */
  #claimIf(claims: boolean, memberId: string, fence: WriteFence | null | undefined): void {
    if (claims && fence) this.#statements.upsertOwner.run(memberId, fence.epoch, fence.node);
  }

  async claim(memberId: string, fence: OwnershipFence): Promise<void> {
    this.#db
      .transaction(() => {
        const owner = this.#statements.owner.get(memberId) ?? null;
        if (!mayClaim(owner, fence)) throw new OwnershipFencedError(memberId, fence, owner);
        this.#statements.upsertOwner.run(memberId, fence.epoch, fence.node);
      })
      .immediate();
  }

  /** Inside a transaction: check the fence and the head, insert the events, move the head. */
  #appendInTransaction(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): StreamHead {
    const claims = this.#checkFence(memberId, fence);
    const actual = this.#readHead(memberId);
    if (!sameHead(actual, expected)) throw new ConcurrencyConflictError(memberId, expected, actual);
    this.#claimIf(claims, memberId, fence);
    let position = expected.position;
    for (const event of events) {
      position += 1;
      this.#statements.insertEvent.run({ ...event, correlationId: event.correlationId ?? null, memberId, generation: expected.generation, position });
    }
    this.#statements.upsertHead.run(memberId, expected.generation, position);
    return { generation: expected.generation, position };
  }

  async append(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): Promise<StreamHead> {
    // IMMEDIATE takes the write lock before reading the head, so the check and the insert
    // cannot interleave with another connection's append to the same file (other workers).
    return this.#db.transaction(() => this.#appendInTransaction(memberId, expected, events, fence)).immediate();
  }

  /** Group commit: several members' appends in one transaction, so one fsync makes them all durable. */
  async appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    return this.#db
      .transaction((): AppendOutcome[] =>
        requests.map((request) => {
          try {
            return { ok: true, head: this.#appendInTransaction(request.memberId, request.expected, request.events, request.fence) };
          } catch (error) {
            // A conflict wrote nothing for this member (the checks come first); the others go on.
            if (error instanceof ConcurrencyConflictError || error instanceof OwnershipFencedError) return { ok: false, error };
            throw error;
          }
        }),
      )
      .immediate();
  }

  async *readGeneration(memberId: string, generation: number, options: ReadOptions = {}): AsyncIterable<EventRecord> {
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    let page = this.#statements.page.all(memberId, generation, 0, pageSize);
    while (page.length > 0) {
      for (const row of page) yield toEventRecord(row);
      const last = page[page.length - 1];
      if (page.length < pageSize || last === undefined) return;
      page = this.#statements.page.all(memberId, generation, last.position, pageSize);
    }
  }

  async readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    const row = this.#statements.latestSnapshot.get(memberId);
    if (!row) return null;
    return {
      memberId: row.member_id,
      generation: row.generation,
      position: row.position,
      takenAt: row.taken_at,
      schemaVersion: row.schema_version,
      payload: row.payload,
    };
  }

  async writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot, fence?: WriteFence | null): Promise<StreamHead> {
    const write = this.#db.transaction((): StreamHead => {
      const claims = this.#checkFence(memberId, fence);
      const actual = this.#readHead(memberId);
      if (!sameHead(actual, expected)) throw new ConcurrencyConflictError(memberId, expected, actual);
      this.#claimIf(claims, memberId, fence);
      const next = { generation: expected.generation + 1, position: expected.position };
      this.#statements.insertSnapshot.run(memberId, next.generation, next.position, snapshot.takenAt, snapshot.schemaVersion, snapshot.payload);
      this.#statements.upsertHead.run(memberId, next.generation, next.position);
      return next;
    });
    return write.immediate();
  }

  async saveRulesVersion(version: string, rulesJson: string, firstSeenAt: number): Promise<void> {
    this.#statements.insertRules.run(version, rulesJson, firstSeenAt);
  }

  async readRulesVersion(version: string): Promise<RulesVersionRecord | null> {
    const row = this.#statements.readRules.get(version);
    return row ? { version: row.version, rulesJson: row.rules_json, firstSeenAt: row.first_seen_at } : null;
  }

  /** Every member with a head (i.e. at least one event), keyset-paged by member id. */
  async *listMembers(): AsyncIterable<string> {
    const pageSize = DEFAULT_PAGE_SIZE;
    let page = this.#statements.membersFirstPage.all(pageSize);
    while (page.length > 0) {
      for (const row of page) yield row.member_id;
      const last = page[page.length - 1];
      if (page.length < pageSize || last === undefined) return;
      page = this.#statements.membersNextPage.all(last.member_id, pageSize);
    }
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

/**
 * The event store contract (docs/storage.md). A member's history is split into
 * generations: generation 0 until the first snapshot, then each snapshot opens the next one.
 * The partition ("row id" in the talk) is (member id, generation); inside it events are ordered by
 * their member-wide position, so one command's events (which touch up to three aggregates) share
 * one partition and land all or nothing, and a generation reads back in the order it was written.
 *
 * Concurrency control: every write states the head it expects (generation and last position);
 * a store whose head differs refuses with ConcurrencyConflictError and writes nothing.
 *
 * Ownership fencing (cluster, docs/cluster.md): every write of a node carries its ownership
 * fence (cluster epoch and node id), and the store refuses (OwnershipFencedError) a write whose
 * fence is not the member's owner. A node that takes a member over loads it with plain reads
 * (readHeadAndOwner) and claims it with its first write: that write names the owner it read
 * (WriteFence.takeOverFrom) in its condition and makes its own fence the owner, so a command is
 * one conditional write and a load none. From then on a node paused through a rebalance cannot
 * write when it wakes up, whatever its memory says. Writes without a fence are not checked: that
 * is the single-node mode, where no other node can write.
 */
import type { StoreErrorCode } from '../errors/catalog.ts';

export interface StreamHead {
  /** The generation new events go to: the latest snapshot's, or 0. */
  generation: number;
  /** Member-wide position of the newest event, 0 when there is none. Positions start at 1. */
  position: number;
}

/** Who may write a member: the node that owns it, from the cluster epoch at which it took it over. */
export interface OwnershipFence {
  epoch: number;
  node: string;
}

/**
 * The fence a write carries. `takeOverFrom` is set on a node's first write of a member it took
 * over: the owner it read when it loaded the member (null: none). The write then claims the
 * member from that owner, in the same conditional write, and is refused if another node took it
 * meanwhile or if that owner is not older than the fence (an epoch never goes back).
 */
export interface WriteFence extends OwnershipFence {
  takeOverFrom?: OwnershipFence | null;
}

/** The owner a fenced write expects to find: the one it takes over from, or itself. */
export function expectedOwnerOf(fence: WriteFence): OwnershipFence | null {
  return fence.takeOverFrom !== undefined ? fence.takeOverFrom : fence;
}

/** A head and the owner the store holds for it (the owner of the generation it is in). */
export interface OwnedHead {
  head: StreamHead;
  owner: OwnershipFence | null;
}

export const EMPTY_HEAD: StreamHead = Object.freeze({ generation: 0, position: 0 });

/** One event as a row, before the store gives it a place. */
export interface NewEventRecord {
  aggregateName: string;
  aggregateId: string;
  /** Event time (ms since epoch). */
  at: number;
  type: string;
  schemaVersion: number;
  serializer: string;
  payload: string;
  rulesVersion: string;
  requestId: string | null;
  /** The id of the HTTP request that caused the event (X-Request-Id, or one the service minted). */
  correlationId?: string | null;
}

export interface EventRecord extends NewEventRecord {
  memberId: string;
  generation: number;
  /** Member-wide sequence number: the tiebreaker for two events at the same millisecond. */
  position: number;
}

export interface SnapshotRecord {
  memberId: string;
  /** Events after this snapshot are in this generation. */
  generation: number;
  /** The last event position the snapshot covers. */
  position: number;
  takenAt: number;
  schemaVersion: number;
  payload: string;
}

export interface NewSnapshot {
  takenAt: number;
  schemaVersion: number;
  payload: string;
}

/** One version of the business rules, as first seen by a service (see saveRulesVersion). */
export interface RulesVersionRecord {
  version: string;
  /** The rules as JSON (the config's `rules` section). */
  rulesJson: string;
  /** When a service first put this version in force (ms since epoch, service clock). */
  firstSeenAt: number;
}

export interface ReadOptions {
  /** Rows per query; long histories are read page by page, never in one unbounded query. */
  pageSize?: number;
  /**
   * The caller has just read the member's latest snapshot and asks for its generation or a newer
   * one (a real-time load). A store in tiers keeps those in its real-time tier, so it need not ask
   * its archive whether an empty one was moved there (one query less per load after a snapshot).
   */
  sinceLatestSnapshot?: boolean;
}

export interface EventStore {
  readonly kind: string;
  /**
   * Appends one command's events atomically at positions expected.position + 1... in the
   * expected generation. Returns the new head.
   */
  append(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): Promise<StreamHead>;
  /**
   * Makes `fence` the member's owner without writing an event (operator tools and tests; the
   * service claims with its first write instead, see WriteFence). Idempotent for the same fence;
   * refused with OwnershipFencedError when a newer epoch, or another node at the same epoch,
   * holds the member. Once claimed, writes carrying any other fence are refused.
   */
  claim(memberId: string, fence: OwnershipFence): Promise<void>;
  /**
   * The member's current head, EMPTY_HEAD for a member never written. `latest`: the member's
   * latest snapshot (readLatestSnapshot) when the caller has just read it, so it is not read again.
   */
  readHead(memberId: string, latest?: SnapshotRecord | null): Promise<StreamHead>;
  /**
   * readHead, and the member's owner as stored for that head: what a node taking the member over
   * names in its first write (WriteFence.takeOverFrom). Plain reads, no consensus round.
   */
  readHeadAndOwner(memberId: string, latest?: SnapshotRecord | null): Promise<OwnedHead>;
  /**
   * The events of one generation in position order: the order they were appended, which is the
   * order the service applied them in (the service never stamps a member's event earlier than
   * its newest, so its events also come in time order).
   */
  readGeneration(memberId: string, generation: number, options?: ReadOptions): AsyncIterable<EventRecord>;
  readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null>;
  /**
   * Stores a snapshot of the state at `expected` and opens generation expected.generation + 1.
   * Refused (ConcurrencyConflictError) when the head moved since the state was read.
   */
  writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot, fence?: WriteFence | null): Promise<StreamHead>;
  /**
   * Records a rules version so decisions taken under it can be explained later. Idempotent:
   * the first write of a version wins and later writes of the same version change nothing
   * (a version names one rule set; RulesSource refuses changed rules under an old version).
   */
  saveRulesVersion(version: string, rulesJson: string, firstSeenAt: number): Promise<void>;
  /** A saved rules version, or null when it was never saved. */
  readRulesVersion(version: string): Promise<RulesVersionRecord | null>;
  /**
   * Every member with at least one stored event, each exactly once, in no particular order
   * (operator tools: replay checks). Read page by page, never in one unbounded query.
   */
  listMembers(): AsyncIterable<string>;
  close(): Promise<void>;
}

export const DEFAULT_PAGE_SIZE = 500;

/** A store refused a write because the member's head is not the one the writer expected. */
export class ConcurrencyConflictError extends Error {
  override name = 'ConcurrencyConflictError';
  readonly code: StoreErrorCode = 'STORE_CONFLICT';
  constructor(
    readonly memberId: string,
    readonly expected: StreamHead,
    readonly actual: StreamHead | null,
  ) {
    super(`member ${memberId}: expected head ${expected.generation}/${expected.position}` + (actual ? `, found ${actual.generation}/${actual.position}` : ', found another'));
  }
}

export function sameHead(a: StreamHead, b: StreamHead): boolean {
  return a.generation === b.generation && a.position === b.position;
}

/**
 * A store refused a write or a claim because another node owns the member now (a rebalance
 * moved it). Nothing was written; the request is retryable and will reach the new owner.
 */
export class OwnershipFencedError extends Error {
  override name = 'OwnershipFencedError';
  readonly code: StoreErrorCode = 'OWNERSHIP_MOVED';
  constructor(
    readonly memberId: string,
    readonly fence: OwnershipFence,
    readonly owner: OwnershipFence | null,
  ) {
    super(
      `member ${memberId} is owned by ${owner ? `node ${owner.node} since epoch ${owner.epoch}` : 'another node'}; ` +
        `node ${fence.node} (epoch ${fence.epoch}) may no longer write it`,
    );
  }
}

/** May `fence` claim a member whose stored owner is `owner`? Newer epochs win; the same one is idempotent. */
export function mayClaim(owner: OwnershipFence | null, fence: OwnershipFence): boolean {
  if (!owner) return true;
  if (owner.epoch !== fence.epoch) return owner.epoch < fence.epoch;
  return owner.node === fence.node;
}

/**
 * A fenced write refused, and the owner it found: another node's newer claim (the writer is
 * stale), or an owner the writer may still take over (then the write lost a race on the head and
 * is a conflict to retry on fresh state).
 */
export function isStaleOwner(found: OwnershipFence | null, fence: OwnershipFence): found is OwnershipFence {
  return found !== null && !sameFence(found, fence) && !mayClaim(found, fence);
}

export function sameFence(a: OwnershipFence | null, b: OwnershipFence | null): boolean {
  return a === b || (a !== null && b !== null && a.epoch === b.epoch && a.node === b.node);
}

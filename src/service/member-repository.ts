/**
 * Loads a member's aggregates from the store (latest snapshot, then the events of its
 * generation) and appends the events of a decision. Snapshots when a load replayed many events
 * or took long, or once enough events were appended since the last snapshot.
 */
import { performance } from 'node:perf_hooks';
import type { DomainEvent } from '../domain/events.ts';
import { pruneMemberState, retentionOfDays, DEFAULT_RELEASED_LICENSE_RETENTION_DAYS, type Retention } from '../domain/member/retention.ts';
import { shareIds } from '../domain/member/share-ids.ts';
import { applyEvent, initialMemberState, type EventMetadata, type MemberState } from '../domain/member/state.ts';
import { encodeEvent } from '../store/codec/event-codec.ts';
import { decodeMemberState, encodeMemberState, SNAPSHOT_SCHEMA_VERSION } from '../store/codec/snapshot-codec.ts';
import { EMPTY_HEAD, mayClaim, OwnershipFencedError, sameFence, type EventStore, type OwnershipFence, type StreamHead, type WriteFence } from '../store/event-store.ts';
import { coldReaderOf } from '../store/read-purpose.ts';
import { ReplayFold } from './replay-fold.ts';

export interface SnapshotThresholds {
  /** Snapshot when this many events were replayed by a load or appended since the last snapshot. */
  eventCount: number;
  /** Snapshot when replaying a member took at least this long. */
  replayMs: number;
  /** Days a released license stays in the member's state (retention.ts); default 30. */
  releasedLicenseRetentionDays?: number;
}

export interface LoadedMember {
  memberId: string;
  state: MemberState;
  head: StreamHead;
  /** Events in the current generation, i.e. not covered by the latest snapshot. */
  eventsSinceSnapshot: number;
  /** How long the last load's replay took, ms. */
  replayMs: number;
  /** The ownership this node writes the member with (cluster); every write carries it. Null: single node. */
  fence: OwnershipFence | null;
  /**
   * The member's owner in the store as this node last read or wrote it. While it is not `fence`
   * (a member just taken over), the next write claims the member from it (WriteFence).
   */
  owner: OwnershipFence | null;
  /**
   * Set when the member was loaded from the cold tier because hot could not be reached: its
   * checks are answered and marked degraded, its commands refused until it is reloaded from hot.
   */
  readonly degraded?: typeof HOT_TIER_UNAVAILABLE;
  /** When a degraded member was loaded (performance.now()), so it is retried from hot soon. */
  readonly loadedAt?: number;
}

/** A member loaded from the cold tier (docs/storage.md#degraded-mode). */
export const HOT_TIER_UNAVAILABLE = 'hot-tier-unavailable';

/**
 * The loaded member as the cache holds it: its head kept as two numbers behind an accessor, where
 * an object of its own would cost every cached member 40 bytes (bench/RESULTS.md, "Member state").
 */
class CachedMember implements LoadedMember {
  #generation: number;
  #position: number;

  constructor(
    readonly memberId: string,
    public state: MemberState,
    head: StreamHead,
    public eventsSinceSnapshot: number,
    public replayMs: number,
    readonly fence: OwnershipFence | null,
    public owner: OwnershipFence | null,
  ) {
    this.#generation = head.generation;
    this.#position = head.position;
  }

  get head(): StreamHead {
    return { generation: this.#generation, position: this.#position };
  }

  set head(head: StreamHead) {
    this.#generation = head.generation;
    this.#position = head.position;
  }
}

/**
 * A member in transit between two nodes (live migration, docs/cluster.md): its exact state in
 * memory (the snapshot encoding, not pruned), where its stream stood, and the owner the store
 * held for it when the sending node last read or wrote it. Plain data: it crosses threads and
 * the peer channel as it is.
 */
export interface ShippedMember {
  memberId: string;
  /** The snapshot codec's version the state was encoded with. */
  schemaVersion: number;
  state: string;
  head: StreamHead;
  eventsSinceSnapshot: number;
  owner: OwnershipFence | null;
}

/** A member read from cold: a class of its own, so a member loaded from hot carries no extra field. */
class DegradedMember extends CachedMember {
  readonly degraded = HOT_TIER_UNAVAILABLE;
  readonly loadedAt = performance.now();
}

function isStoreUnavailable(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'STORE_UNAVAILABLE';
}

export class MemberRepository {
  readonly #retention: Retention;

  constructor(
    private readonly store: EventStore,
    private readonly thresholds: SnapshotThresholds,
    private readonly onSnapshotError: (memberId: string, error: unknown) => void = () => {},
  ) {
    this.#retention = retentionOfDays(thresholds.releasedLicenseRetentionDays ?? DEFAULT_RELEASED_LICENSE_RETENTION_DAYS);
  }

  /**
   * Plain reads, in a cluster too: the member's first write claims it (see `writeFence`). A
   * previous owner that writes after this load moves the head, so that first write is refused as
   * a conflict and the command is decided again on what the store holds.
   */
  async load(memberId: string, fence: OwnershipFence | null = null): Promise<LoadedMember> {
    try {
      return await this.#load(this.store, memberId, fence, false);
    } catch (error) {
      // Real-time loads read hot only; when hot cannot be reached, a store in tiers can still
      // answer from cold (its latest snapshot and newer events): read-only, marked degraded.
      const cold = isStoreUnavailable(error) ? coldReaderOf(this.store) : null;
      if (!cold) throw error;
      try {
        return await this.#load(cold, memberId, null, true);
      } catch {
        throw error; // hot's failure is the one to report
      }
    }
  }

  async #load(store: EventStore, memberId: string, fence: OwnershipFence | null, degraded: boolean): Promise<LoadedMember> {
    const started = performance.now();
    const snapshot = await store.readLatestSnapshot(memberId);
    let state = initialMemberState();
    let head: StreamHead = EMPTY_HEAD;
    let fromGeneration = 0;
    let fromSnapshot = false;
    if (snapshot) {
      try {
        state = decodeMemberState(snapshot.schemaVersion, snapshot.payload);
        // A snapshot from before pruning holds the member's whole past: pruned now (as the
        // snapshot would have been), not at the next snapshot, which may be months away.
        if (snapshot.schemaVersion < SNAPSHOT_SCHEMA_VERSION) state = pruneMemberState(state, state.lastEventAt, this.#retention);
        head = { generation: snapshot.generation, position: snapshot.position };
        fromGeneration = snapshot.generation;
        fromSnapshot = true;
      } catch {
        // A snapshot this code cannot read (older or newer format) is only an optimisation:
        // rebuild from the full history instead, which is always authoritative.
        state = initialMemberState();
      }
    }
    // Usually the snapshot's generation; later when a snapshot sealed a generation but its row
    // was never written (a crash): then the generations after the snapshot are replayed too.
    const stored = fence ? await store.readHeadAndOwner(memberId, snapshot) : { head: await store.readHead(memberId, snapshot), owner: null };
    // A newer owner holds the member: this node's view is behind; never load what it may not write.
    if (fence && !mayClaim(stored.owner, fence)) throw new OwnershipFencedError(memberId, fence, stored.owner);
    const lastGeneration = Math.max(snapshot?.generation ?? 0, stored.head.generation);
    let replayed = 0;
    // Honours voids; a row that cannot be read and is not voided fails the load (EVENT_DECODE_FAILED).
    const fold = new ReplayFold(state);
    // From a decoded snapshot, every generation read is the snapshot's or newer: a tiered store
    // reads those from its real-time tier alone.
    const readOptions = { sinceLatestSnapshot: fromSnapshot };
    for (let generation = fromGeneration; generation <= lastGeneration; generation++) {
      for await (const row of store.readGeneration(memberId, generation, readOptions)) {
        fold.add(row);
        replayed += 1;
        if (row.position > head.position) head = { generation: row.generation, position: row.position };
      }
    }
    fold.finish();
    shareIds(state);
    head = { generation: lastGeneration, position: head.position };
    // Whole milliseconds (a small integer, where a fraction costs a boxed double per member): the
    // threshold is whole milliseconds, and floor(x) >= n exactly when x >= n.
    const member = new (degraded ? DegradedMember : CachedMember)(memberId, state, head, replayed, Math.floor(performance.now() - started), fence, stored.owner);
    if ((!degraded && replayed >= this.thresholds.eventCount) || (replayed > 0 && member.replayMs >= this.thresholds.replayMs)) {
      await this.snapshot(member);
    }
    return member;
  }

  /** A member in memory as data for its new owner (live migration): its exact state, not pruned. */
  ship(member: LoadedMember): ShippedMember {
    const { memberId, head, eventsSinceSnapshot, owner } = member;
    return { memberId, schemaVersion: SNAPSHOT_SCHEMA_VERSION, state: encodeMemberState(member.state), head, eventsSinceSnapshot, owner };
  }

  /**
   * A shipped member as the cache holds it, writing with this node's `fence`, nothing read from
   * the store: its first write takes it over from the shipped owner (writeFence). A shipment
   * behind the store fails that write's head condition, and the service reloads the member.
   */
  install(shipped: ShippedMember, fence: OwnershipFence | null): LoadedMember {
    const state = decodeMemberState(shipped.schemaVersion, shipped.state);
    shareIds(state);
    const head = { generation: shipped.head.generation, position: shipped.head.position };
    return new CachedMember(shipped.memberId, state, head, shipped.eventsSinceSnapshot, 0, fence, fence ? shipped.owner : null);
  }

  /**
   * Appends a decision's events at the member's head, then applies them to the in-memory
   * state: memory changes only once the store has the events.
   */
  async append(member: LoadedMember, events: readonly DomainEvent[], metadata: EventMetadata): Promise<void> {
    if (events.length === 0) return;
    const rows = events.map((event) => encodeEvent(event, metadata));
    member.head = await this.store.append(member.memberId, member.head, rows, writeFence(member));
    member.owner = member.fence;
    for (const event of events) applyEvent(member.state, event, metadata);
    member.eventsSinceSnapshot += events.length;
    if (member.eventsSinceSnapshot >= this.thresholds.eventCount) await this.snapshot(member);
  }

  /**
   * Writes a snapshot of the member's state and moves it to the next generation. A failure is
   * reported and swallowed: the events are stored, so a missing snapshot costs only load time.
   *
   * The snapshot is the state pruned at its newest event (retention.ts), and once it is stored
   * the member in memory becomes that pruned state too, so memory stays as flat as the
   * snapshots. Pruning only here (and when upcasting an older snapshot) keeps the state a
   * function of the stored rows: a reload gives what memory holds.
   */
  async snapshot(member: LoadedMember, options: { rethrow?: boolean } = {}): Promise<boolean> {
    if (member.head.position === 0) return false;
    const pruned = pruneMemberState(member.state, member.state.lastEventAt, this.#retention);
    try {
      member.head = await this.store.writeSnapshot(
        member.memberId,
        member.head,
        {
          takenAt: pruned.lastEventAt,
          schemaVersion: SNAPSHOT_SCHEMA_VERSION,
          payload: encodeMemberState(pruned),
        },
        writeFence(member),
      );
      member.owner = member.fence;
      member.state = pruned;
      member.eventsSinceSnapshot = 0;
      return true;
    } catch (error) {
      // An operator's "snapshot now" wants the failure itself (rethrow); background snapshots log it.
      if (options.rethrow) throw error;
      this.onSnapshotError(member.memberId, error);
      return false;
    }
  }
}

/** The fence a member's next write carries: its own, naming the owner it takes over from on the first write after a move. */
function writeFence(member: LoadedMember): WriteFence | null {
  const { fence, owner } = member;
  if (!fence || sameFence(owner, fence)) return fence;
  return { epoch: fence.epoch, node: fence.node, takeOverFrom: owner };
}

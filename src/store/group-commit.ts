/**
 * Group commit: appends of different members that arrive in the same event-loop turn are
 * handed to the store together, so a store that can (SQLite: one transaction, one fsync) makes
 * them durable at once. Each append is still acknowledged only once the store has it, and each
 * keeps its own concurrency check: a conflict for one member does not fail the others.
 */
import type {
  EventStore,
  NewEventRecord,
  OwnershipFence,
  NewSnapshot,
  OwnedHead,
  ReadOptions,
  RulesVersionRecord,
  SnapshotRecord,
  StreamHead,
  EventRecord,
  WriteFence,
} from './event-store.ts';

export interface AppendRequest {
  memberId: string;
  expected: StreamHead;
  events: readonly NewEventRecord[];
  fence?: WriteFence | null;
}

export type AppendOutcome = { ok: true; head: StreamHead } | { ok: false; error: unknown };

/** Implemented by stores that can make several members' appends durable together. */
export interface BatchAppender {
  appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]>;
}

export function canAppendMany(store: EventStore): store is EventStore & BatchAppender {
  return typeof (store as Partial<BatchAppender>).appendMany === 'function';
}

interface Pending extends AppendRequest {
  resolve(head: StreamHead): void;
  reject(error: unknown): void;
}

export class GroupCommitStore implements EventStore {
  readonly kind: string;
  #pending: Pending[] = [];
  #scheduled = false;
  /** Flushes and appends grouped so far (for stats and benchmarks). */
  readonly counters = { flushes: 0, appends: 0 };

  constructor(private readonly inner: EventStore & BatchAppender) {
    this.kind = inner.kind;
  }

  append(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): Promise<StreamHead> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ memberId, expected, events, fence: fence ?? null, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // setImmediate: after this turn's I/O callbacks, so every command decided in it joins.
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const group = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    this.counters.flushes += 1;
    this.counters.appends += group.length;
    try {
      const outcomes = await this.inner.appendMany(group);
      group.forEach((request, i) => {
        const outcome = outcomes[i];
        if (outcome?.ok) request.resolve(outcome.head);
        else request.reject(outcome ? outcome.error : new Error('group commit lost an outcome'));
      });
    } catch (error) {
      for (const request of group) request.reject(error);
    }
  }

  readHead(memberId: string, latest?: SnapshotRecord | null): Promise<StreamHead> {
    return this.inner.readHead(memberId, latest);
  }
  readHeadAndOwner(memberId: string, latest?: SnapshotRecord | null): Promise<OwnedHead> {
    return this.inner.readHeadAndOwner(memberId, latest);
  }
  readGeneration(memberId: string, generation: number, options?: ReadOptions): AsyncIterable<EventRecord> {
    return this.inner.readGeneration(memberId, generation, options);
  }
  readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    return this.inner.readLatestSnapshot(memberId);
  }
  writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot, fence?: WriteFence | null): Promise<StreamHead> {
    return this.inner.writeSnapshot(memberId, expected, snapshot, fence);
  }
  claim(memberId: string, fence: OwnershipFence): Promise<void> {
    return this.inner.claim(memberId, fence);
  }
  saveRulesVersion(version: string, rulesJson: string, firstSeenAt: number): Promise<void> {
    return this.inner.saveRulesVersion(version, rulesJson, firstSeenAt);
  }
  readRulesVersion(version: string): Promise<RulesVersionRecord | null> {
    return this.inner.readRulesVersion(version);
  }
  listMembers(): AsyncIterable<string> {
    return this.inner.listMembers();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Wraps a store in group commit when it can append many at once; returns it unchanged otherwise. */
export function withGroupCommit(store: EventStore): EventStore {
  return canAppendMany(store) ? new GroupCommitStore(store) : store;
}

/**
 * The Cassandra store in two tiers (docs/storage.md#two-tiers). Hot serves the real-time path
 * and fences every write, exactly as the single-tier store does; cold keeps every event and
 * snapshot. The hot tier's sealed generations are the durable outbox toward cold:
 *
 *   - an append goes to hot only (one Paxos round, as before), so a command never waits on cold;
 *     once acknowledged, its events are copied to cold in the background, best effort;
 *   - after a snapshot seals a generation the archiver (archiver.ts) copies it to cold, checks
 *     that cold holds every row, and only then drops hot's older partitions; a sweeper finishes
 *     whatever a crash or an unreachable cold tier left (startSweeper).
 *
 * Reads by purpose: this store's own reads are the real-time ones (hot); `coldReader` is what a
 * load falls back to when hot cannot be reached (member-repository.ts marks such a member
 * degraded); `debugView` reads cold plus hot's generations not archived yet, merged by position.
 */
import { HostCounter } from '../host-counter.ts';
import { hostsOf, type DescribesHosts, type HostCount, type StoreDescription } from '../host-view.ts';
import cassandra from 'cassandra-driver';
import { StoreUnavailableError } from '../../../errors/catalog.ts';
import {
  type EventRecord,
  type EventStore,
  type NewEventRecord,
  type NewSnapshot,
  type OwnedHead,
  type OwnershipFence,
  type ReadOptions,
  type RulesVersionRecord,
  type SnapshotRecord,
  type StreamHead,
  type WriteFence,
} from '../../event-store.ts';
import { CassandraEventStore } from '../cassandra-event-store.ts';
import { connectToKeyspace, shutdownBounded } from '../connect.ts';
import { isUnavailable, unavailable } from '../driver-errors.ts';
import { refuseUnmigratedKeyspace } from '../layout-state.ts';
import { Archiver, type ArchiverHooks, type ArchiveProgress } from './archiver.ts';
import { ColdStore } from './cold-store.ts';
import { bothTiers, type CassandraSettings } from './tier-settings.ts';
import type { HasArchiveSweeper, HasColdReader, HasDebugView } from '../../read-purpose.ts';

type Client = cassandra.Client;
const { types } = cassandra;

/** Background copies of fresh events in flight at most; beyond it they are left to the archiver. */
const MAX_COPIES_IN_FLIGHT = 256;
/** How long after a failed attempt to reach the cold tier the next one may be made. */
const COLD_RETRY_MS = 5000;

export interface TieredOptions {
  hooks?: ArchiverHooks;
  /** Told of every background failure (a copy, an archive run): they are retried, never lost. */
  onBackgroundError?: (what: string, memberId: string | null, error: unknown) => void;
}

function isStoreUnavailable(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'STORE_UNAVAILABLE';
}

function consistency(level: string): number {
  const key = level.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof types.consistencies;
  return types.consistencies[key];
}

export class TieredEventStore implements EventStore, HasColdReader, HasDebugView, HasArchiveSweeper, DescribesHosts {
  readonly kind = 'cassandra';
  /** Requests and errors per hot-tier host (the real-time path); see host-view.ts. */
  readonly hostCounts: ReadonlyMap<string, HostCount>;
  readonly hot: CassandraEventStore;
  readonly settings: { hot: CassandraSettings; cold: CassandraSettings };
  readonly counters = { copiesFailed: 0, copiesSkipped: 0, archiveRuns: 0, archiveFailures: 0, sweeps: 0 };
  readonly #hotClient: Client;
  readonly #hotRead: cassandra.QueryOptions;
  readonly #options: TieredOptions;
  #cold: ColdStore | null = null;
  #coldConnecting: Promise<ColdStore> | null = null;
  #coldFailedAt = -Infinity;
  #archiver: Archiver | null = null;
  #copies = 0;
  readonly #archiving = new Map<string, Promise<void>>();
  #sweeper: NodeJS.Timeout | null = null;
  #sweepPage: string | null = null;
  #sweeping: Promise<void> | null = null;
  #closed = false;

  private constructor(
    hotClient: Client,
    settings: { hot: CassandraSettings; cold: CassandraSettings },
    cold: ColdStore | null,
    options: TieredOptions,
    hostCounts: ReadonlyMap<string, HostCount> = new Map(),
  ) {
    this.#hotClient = hotClient;
    this.hostCounts = hostCounts;
    this.#hotRead = { prepare: true, consistency: consistency(settings.hot.readConsistency) };
    this.settings = settings;
    this.hot = CassandraEventStore.over(hotClient, settings.hot, 'compact', { ownsClient: true });
    this.#options = options;
    if (cold) this.#useCold(cold);
  }

  /**
   * Connects to hot (refused as the single-tier store is: unreachable, or not migrated) and to
   * cold. Cold being unreachable does not stop the service: it is connected to later, and the
   * archiver catches up then.
   */
  static async connect(shared: CassandraSettings, options: TieredOptions = {}): Promise<TieredEventStore> {
    const settings = bothTiers(shared);
    const tracker = new HostCounter();
    const client = await connectToKeyspace(settings.hot, { purpose: 'hot tier', requestTracker: tracker });
    try {
      await refuseUnmigratedKeyspace(client, settings.hot.keyspace);
    } catch (error) {
      await shutdownBounded(client);
      throw error;
    }
    const cold = await ColdStore.connect(settings.cold).catch((error: unknown) => {
      options.onBackgroundError?.('cold tier connect', null, error);
      return null;
    });
    return new TieredEventStore(client, settings, cold, options, tracker.counts);
  }

  /** The hot tier's hosts as the driver sees them, and the consistency levels in force. */
  describeStore(): StoreDescription {
    const { keyspace, localDataCenter, readConsistency, writeConsistency, serialConsistency } = this.settings.hot;
    return {
      kind: 'cassandra',
      keyspace,
      localDataCenter,
      consistency: { read: readConsistency, write: writeConsistency, serial: serialConsistency },
      hosts: hostsOf(this.#hotClient),
      tiers: {
        hot: { keyspace },
        cold: { keyspace: this.settings.cold.keyspace, connected: this.#cold !== null, hosts: this.#cold?.hosts() ?? [] },
        background: { ...this.counters },
      },
    };
  }

  #useCold(cold: ColdStore): Archiver {
    this.#cold = cold;
    const archiver = new Archiver(
      this.#hotClient,
      this.hot,
      cold,
      { read: consistency(this.settings.hot.readConsistency), write: consistency(this.settings.hot.writeConsistency) },
      this.#options.hooks,
    );
    this.#archiver = archiver;
    return archiver;
  }

  /** The cold tier, connecting to it if the start could not (at most every few seconds). */
  async #coldTier(): Promise<{ cold: ColdStore; archiver: Archiver }> {
    if (this.#cold && this.#archiver) return { cold: this.#cold, archiver: this.#archiver };
    if (!this.#coldConnecting) {
      if (performance.now() - this.#coldFailedAt < COLD_RETRY_MS) throw new StoreUnavailableError('the cold tier cannot be reached (retried shortly)');
      this.#coldConnecting = ColdStore.connect(this.settings.cold).finally(() => (this.#coldConnecting = null));
    }
    try {
      const cold = await this.#coldConnecting;
      if (this.#closed) {
        await cold.close();
        throw new StoreUnavailableError('the store is closed');
      }
      if (!this.#cold) this.#useCold(cold);
    } catch (error) {
      this.#coldFailedAt = performance.now();
      throw error;
    }
    return { cold: this.#cold as ColdStore, archiver: this.#archiver as Archiver };
  }

  async append(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): Promise<StreamHead> {
    const head = await this.hot.append(memberId, expected, events, fence);
    this.#copyToCold(events.map((event, index) => ({ ...event, memberId, generation: expected.generation, position: expected.position + 1 + index })));
    return head;
  }

  /** Best effort and never awaited: the archiver copies the whole generation again before any drop. */
  #copyToCold(records: EventRecord[]): void {
    if (this.#copies >= MAX_COPIES_IN_FLIGHT || this.#closed) {
      this.counters.copiesSkipped += 1;
      return;
    }
    this.#copies += 1;
    void this.#coldTier()
      .then(({ cold }) => cold.writeEvents(records))
      .catch((error: unknown) => {
        this.counters.copiesFailed += 1;
        this.#options.onBackgroundError?.('cold copy', records[0]?.memberId ?? null, error);
      })
      .finally(() => (this.#copies -= 1));
  }

  async writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot, fence?: WriteFence | null): Promise<StreamHead> {
    const head = await this.hot.writeSnapshot(memberId, expected, snapshot, fence);
    void this.archive(memberId).catch(() => {});
    return head;
  }

  /**
   * Runs the archiver for one member (one run per member at a time; a second call joins the
   * first). Rejects when a tier cannot be reached or cold lacks rows: the sweeper retries.
   */
  archive(memberId: string): Promise<void> {
    const running = this.#archiving.get(memberId);
    if (running) return running;
    const run = (async () => {
      this.counters.archiveRuns += 1;
      const { archiver } = await this.#coldTier();
      await archiver.archiveMember(memberId);
    })()
      .catch((error: unknown) => {
        this.counters.archiveFailures += 1;
        this.#options.onBackgroundError?.('archive', memberId, error);
        throw error;
      })
      .finally(() => this.#archiving.delete(memberId));
    this.#archiving.set(memberId, run);
    return run;
  }

  async #archivedBelow(memberId: string): Promise<number> {
    try {
      const row = (await this.#hotClient.execute('SELECT archived_below FROM archive_progress WHERE member_id = ?', [memberId], this.#hotRead)).first();
      return (row?.['archived_below'] as number | null | undefined) ?? 0;
    } catch (error) {
      throw isUnavailable(error) ? unavailable(error, 'archive progress read') : error;
    }
  }

  async archiveProgress(memberId: string): Promise<ArchiveProgress> {
    const { archiver } = await this.#coldTier();
    return archiver.progress(memberId);
  }

  /**
   * One bounded sweep for sealed generations not archived or not dropped yet (at start, then
   * every `intervalMs`; 0: only at start). Each sweep visits at most `members` members and the
   * next goes on from there, so a large keyspace is covered a slice at a time.
   */
  startSweeper(options: { intervalMs: number; members: number }): void {
    const sweep = (): void => {
      if (this.#sweeping || this.#closed) return;
      this.#sweeping = this.sweepOnce(options.members)
        .then(() => undefined)
        .catch((error: unknown) => this.#options.onBackgroundError?.('sweep', null, error))
        .finally(() => (this.#sweeping = null));
    };
    sweep();
    if (options.intervalMs > 0) this.#sweeper = setInterval(sweep, options.intervalMs).unref();
  }

  async sweepOnce(members: number): Promise<{ visited: number; failed: number }> {
    const { archiver } = await this.#coldTier();
    this.counters.sweeps += 1;
    const result = await archiver.sweep(members, this.#sweepPage);
    this.#sweepPage = result.next;
    return result;
  }

  claim(memberId: string, fence: OwnershipFence): Promise<void> {
    return this.hot.claim(memberId, fence);
  }

  readHead(memberId: string, latest?: SnapshotRecord | null): Promise<StreamHead> {
    return this.hot.readHead(memberId, latest);
  }
  readHeadAndOwner(memberId: string, latest?: SnapshotRecord | null): Promise<OwnedHead> {
    return this.hot.readHeadAndOwner(memberId, latest);
  }

  readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    return this.hot.readLatestSnapshot(memberId);
  }

  /**
   * Hot's generation. A generation hot may have dropped (a real-time load never asks for one; a
   * rebuild from the whole history, because the snapshot cannot be read, or a tool does) comes
   * from cold, which held every row before hot dropped any: archived_below is recorded before the
   * drop, so a generation empty in hot and archived is read from cold, whatever the archiver is
   * doing meanwhile.
   */
  async *readGeneration(memberId: string, generation: number, options: ReadOptions = {}): AsyncIterable<EventRecord> {
    let any = false;
    for await (const row of this.hot.readGeneration(memberId, generation, options)) {
      any = true;
      yield row;
    }
    // Hot keeps the latest snapshot's generation and the one before (the archiver drops only older
    // ones), so a generation at or after the snapshot a load just read is never in cold alone.
    if (any || options.sinceLatestSnapshot === true) return;
    // The progress is hot's: a generation never archived needs nothing from cold, which may be down.
    if ((await this.#archivedBelow(memberId)) <= generation) return;
    const { cold } = await this.#coldTier();
    yield* cold.reader.readGeneration(memberId, generation, options);
  }

  async saveRulesVersion(version: string, rulesJson: string, firstSeenAt: number): Promise<void> {
    await this.hot.saveRulesVersion(version, rulesJson, firstSeenAt);
    // Cold keeps the rules too, so its history can be explained without hot; best effort here,
    // and read from hot first anyway.
    void this.#coldTier()
      .then(({ cold }) => cold.reader.saveRulesVersion(version, rulesJson, firstSeenAt))
      .catch(() => {});
  }

  readRulesVersion(version: string): Promise<RulesVersionRecord | null> {
    return this.hot.readRulesVersion(version);
  }

  /**
   * Every member once: hot's (generation 0 still there), then cold's not listed from hot (hot
   * dropped their generation 0). The ids listed from hot are remembered for the second scan: the
   * archiver may move a generation 0 between the two, and only this tells whether it was listed.
   * An operator tool's cost (replay --check); the service never lists members.
   */
  async *listMembers(): AsyncIterable<string> {
    const listed = new Set<string>();
    for await (const memberId of this.hot.listMembers()) {
      listed.add(memberId);
      yield memberId;
    }
    const { cold } = await this.#coldTier();
    for await (const memberId of cold.reader.listMembers()) if (!listed.has(memberId)) yield memberId;
  }

  coldReader(): EventStore {
    return new ColdReader(() => this.#coldTier().then(({ cold }) => cold));
  }

  debugView(): EventStore {
    return new DebugView(this, () => this.#coldTier());
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    await Promise.allSettled([...this.#archiving.values(), this.#sweeping]);
    await this.#cold?.close();
    await this.hot.close();
  }
}

function readOnly(what: string): never {
  throw new StoreUnavailableError(`the hot tier cannot be reached: ${what} is refused (writes are fenced in hot)`, { outcome: 'not-applied' });
}

/**
 * Cold as a load's fallback: the latest cold snapshot, then every newer cold generation that
 * holds rows. It answers what cold has: the generations the archiver copied and whatever recent
 * events the background copy delivered; it never writes.
 */
class ColdReader implements EventStore {
  readonly kind = 'cassandra-cold';
  constructor(private readonly cold: () => Promise<ColdStore>) {}

  async append(): Promise<StreamHead> {
    return readOnly('an append');
  }
  async claim(): Promise<void> {
    return readOnly('an ownership claim');
  }
  async writeSnapshot(): Promise<StreamHead> {
    return readOnly('a snapshot');
  }
  async saveRulesVersion(): Promise<void> {
    return readOnly('saving a rules version');
  }

  async readHead(memberId: string, latest?: SnapshotRecord | null): Promise<StreamHead> {
    const cold = await this.cold();
    const snapshot = latest !== undefined ? latest : await cold.latestSnapshot(memberId);
    let head: StreamHead = { generation: snapshot?.generation ?? 0, position: snapshot?.position ?? 0 };
    for (let generation = head.generation; generation < head.generation + 1000; generation++) {
      const positions = await cold.positions(memberId, generation);
      const last = positions[positions.length - 1];
      if (last === undefined) {
        if (generation > head.generation) break;
        continue;
      }
      head = { generation, position: Math.max(head.position, last) };
    }
    return head;
  }

  /** Cold keeps no owner: a member read from it is read-only (degraded), never written. */
  async readHeadAndOwner(memberId: string, latest?: SnapshotRecord | null): Promise<OwnedHead> {
    return { head: await this.readHead(memberId, latest), owner: null };
  }

  async readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    return (await this.cold()).latestSnapshot(memberId);
  }

  async *readGeneration(memberId: string, generation: number, options?: ReadOptions): AsyncIterable<EventRecord> {
    yield* (await this.cold()).reader.readGeneration(memberId, generation, options);
  }

  async readRulesVersion(version: string): Promise<RulesVersionRecord | null> {
    return (await this.cold()).reader.readRulesVersion(version);
  }

  async *listMembers(): AsyncIterable<string> {
    yield* (await this.cold()).reader.listMembers();
  }

  async close(): Promise<void> {}
}

/**
 * Reads for debugging and audit: cold plus the generations hot has not archived yet, merged by
 * position (hot's row wins where both hold one; they are the same row). Generations archived are
 * read from cold only, so debugging costs the real-time tier nothing for them. When hot cannot be
 * reached, what cold holds is shown.
 */
/** A debug read: hot's answer, or cold's when hot cannot be reached (any other failure stands). */
async function hotElseCold<T>(hot: () => Promise<T>, cold: () => Promise<T>): Promise<T> {
  try {
    return await hot();
  } catch (error) {
    if (!isStoreUnavailable(error)) throw error;
    return cold();
  }
}

class DebugView implements EventStore {
  readonly kind = 'cassandra-debug';
  readonly #cold: ColdReader;

  constructor(
    private readonly tiered: TieredEventStore,
    private readonly coldTier: () => Promise<{ cold: ColdStore; archiver: Archiver }>,
  ) {
    this.#cold = new ColdReader(() => coldTier().then(({ cold }) => cold));
  }

  append(memberId: string, expected: StreamHead, events: readonly NewEventRecord[], fence?: WriteFence | null): Promise<StreamHead> {
    return this.tiered.append(memberId, expected, events, fence);
  }
  claim(memberId: string, fence: OwnershipFence): Promise<void> {
    return this.tiered.claim(memberId, fence);
  }
  writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot, fence?: WriteFence | null): Promise<StreamHead> {
    return this.tiered.writeSnapshot(memberId, expected, snapshot, fence);
  }
  saveRulesVersion(version: string, rulesJson: string, firstSeenAt: number): Promise<void> {
    return this.tiered.saveRulesVersion(version, rulesJson, firstSeenAt);
  }

  readHead(memberId: string, latest?: SnapshotRecord | null): Promise<StreamHead> {
    return hotElseCold(
      () => this.tiered.readHead(memberId, latest),
      () => this.#cold.readHead(memberId),
    );
  }

  readHeadAndOwner(memberId: string, latest?: SnapshotRecord | null): Promise<OwnedHead> {
    return hotElseCold(
      () => this.tiered.readHeadAndOwner(memberId, latest),
      () => this.#cold.readHeadAndOwner(memberId),
    );
  }

  readLatestSnapshot(memberId: string): Promise<SnapshotRecord | null> {
    return hotElseCold(
      () => this.tiered.readLatestSnapshot(memberId),
      () => this.#cold.readLatestSnapshot(memberId),
    );
  }

  async *readGeneration(memberId: string, generation: number, options?: ReadOptions): AsyncIterable<EventRecord> {
    let archivedBelow = 0;
    let coldRows: EventRecord[] = [];
    let coldReachable = true;
    try {
      const { archiver } = await this.coldTier();
      archivedBelow = (await archiver.progress(memberId).catch(() => ({ archivedBelow: 0 }))).archivedBelow;
      for await (const row of this.#cold.readGeneration(memberId, generation, options)) coldRows.push(row);
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      coldReachable = false;
      coldRows = [];
    }
    if (coldReachable && generation < archivedBelow) {
      yield* coldRows;
      return;
    }
    const merged = new Map<number, EventRecord>();
    for (const row of coldRows) merged.set(row.position, row);
    try {
      for await (const row of this.tiered.hot.readGeneration(memberId, generation, options)) merged.set(row.position, row);
    } catch (error) {
      if (!isStoreUnavailable(error) || !coldReachable) throw error;
    }
    yield* [...merged.values()].sort((a, b) => a.position - b.position);
  }

  readRulesVersion(version: string): Promise<RulesVersionRecord | null> {
    return hotElseCold(
      () => this.tiered.readRulesVersion(version),
      () => this.#cold.readRulesVersion(version),
    );
  }

  listMembers(): AsyncIterable<string> {
    return this.tiered.listMembers();
  }

  async close(): Promise<void> {}
}

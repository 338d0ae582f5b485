/**
 * The row layouts the storage bench (bench/storage-bench.ts) measures, each in keyspaces of its
 * own. A layout is a way to open an event store that writes it, and where its rows live: one
 * keyspace, or one per tier. To measure another layout, add an entry: the bench writes the same
 * histories through it and reports it beside the others, with the ratios to the baseline.
 */
import { connectLegacyStore } from '../src/store/cassandra/legacy/legacy-store.ts';
import { bothTiers, type CassandraSettings } from '../src/store/cassandra/tiers/tier-settings.ts';
import { TieredEventStore } from '../src/store/cassandra/tiers/tiered-event-store.ts';
import type { EventStore } from '../src/store/event-store.ts';

/** What a keyspace of a layout holds: everything (one keyspace), or one tier's share. */
export type Role = 'single' | 'hot' | 'cold';

export interface LayoutPart {
  role: Role;
  keyspace: string;
  /** Its tables that hold event rows, and snapshot rows (every other table of the keyspace is counted too, as "all tables"). */
  events: readonly string[];
  snapshots: readonly string[];
}

export interface StorageLayout {
  /** Short name, part of its keyspaces' names: [a-z0-9_]. */
  key: string;
  /** What the report calls it. */
  label: string;
  /** A store that writes this layout into settings.keyspace (and the keyspaces it derives from it), creating its tables. */
  open(settings: CassandraSettings): Promise<EventStore>;
  /** Where its rows live, for the settings' keyspace. */
  parts(settings: CassandraSettings): readonly LayoutPart[];
  /** Waits for what the store does in the background after writes (the tiered store's archiver), before anything is measured. */
  settle?(store: EventStore, memberIds: readonly string[]): Promise<void>;
  /** The store a load falls back to when it reads the cold tier only (the tiered store's cold reader). */
  coldReader?(store: EventStore): EventStore;
  /** The layout the others are compared with (the one of the code before issue 13). */
  baseline?: boolean;
}

export const LAYOUTS: readonly StorageLayout[] = [
  {
    key: 'legacy',
    label:
      'the previous rows in one keyspace (`events`: clustered by aggregate name and id, time, position; payload as JSON text; ids as text; null ids bound as null), written by the legacy store',
    open: (settings) => connectLegacyStore(settings),
    parts: (settings) => [{ role: 'single', keyspace: settings.keyspace, events: ['events'], snapshots: ['snapshots'] }],
    baseline: true,
  },
  {
    key: 'tiered',
    label:
      "the service's store: compact rows (`events_v2`: member, generation, position; time and one binary body) in two tiers, hot (LZ4 16 KiB chunks) and cold (`<hot>_cold`, Zstd 64 KiB chunks), with the configuration's defaults",
    open: (settings) => TieredEventStore.connect(settings),
    parts: (settings) => {
      const { hot, cold } = bothTiers(settings);
      return [
        { role: 'hot', keyspace: hot.keyspace, events: ['events_v2'], snapshots: ['snapshots_v2'] },
        { role: 'cold', keyspace: cold.keyspace, events: ['events_v2'], snapshots: ['snapshots_v2'] },
      ];
    },
    // Each snapshot starts the member's archiving in the background; a call joins a run in progress.
    settle: async (store, memberIds) => {
      let next = 0;
      const archive = async (): Promise<void> => {
        while (next < memberIds.length) await (store as TieredEventStore).archive(memberIds[next++] as string);
      };
      await Promise.all(Array.from({ length: 16 }, archive));
    },
    coldReader: (store) => (store as TieredEventStore).coldReader(),
  },
];

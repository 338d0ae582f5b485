/**
 * The row layouts the storage bench (bench/storage-bench.ts) measures, each in a keyspace of its
 * own. A layout is a way to open an event store that writes it, and the names of its tables. To
 * measure another layout, add an entry: the bench writes the same histories through it and
 * reports it beside the others, with the ratios to the baseline.
 */
import { CassandraEventStore, type CassandraSettings } from '../src/store/cassandra/cassandra-event-store.ts';
import { connectLegacyStore } from '../src/store/cassandra/legacy/legacy-store.ts';
import { ARCHIVE_TABLE_OPTIONS, REALTIME_TABLE_OPTIONS, type EventTablesOptions } from '../src/store/cassandra/table-options.ts';
import type { EventStore } from '../src/store/event-store.ts';

/** Which of issue 13's targets a layout's figures stand for. */
export type Tier = 'hot' | 'cold';

export interface StorageLayout {
  /** Short name, part of its keyspaces' names: [a-z0-9_]. */
  key: string;
  /** What the report calls it. */
  label: string;
  /** A store that writes this layout into settings.keyspace (creating its tables). */
  open(settings: CassandraSettings): Promise<EventStore>;
  tables: { events: readonly string[]; snapshots: readonly string[] };
  /** The tier targets its figures are judged against: the tier whose table options it has (none for the baseline). */
  tiers: readonly Tier[];
  /** The layout the others are compared with (the one of the code before issue 13). */
  baseline?: boolean;
}

/** Settings with one of the table-option presets (the config's type narrows chunk sizes to the values its schema allows). */
function withTables(settings: CassandraSettings, tables: EventTablesOptions): CassandraSettings {
  return { ...settings, tables: tables as CassandraSettings['tables'] };
}

export const LAYOUTS: readonly StorageLayout[] = [
  {
    key: 'legacy',
    label:
      'the previous rows (`events`: clustered by aggregate name and id, time, position; payload as JSON text; ids as text; null ids bound as null), written by the legacy store',
    open: (settings) => connectLegacyStore(settings),
    tables: { events: ['events'], snapshots: ['snapshots'] },
    tiers: [],
    baseline: true,
  },
  {
    key: 'compact_lz4',
    label: "compact rows (`events_v2`: member, generation, position; time and one binary body), LZ4 16 KiB chunks: the service's tables and the hot tier's preset",
    open: (settings) => CassandraEventStore.connect(withTables(settings, REALTIME_TABLE_OPTIONS)),
    tables: { events: ['events_v2'], snapshots: ['snapshots_v2'] },
    tiers: ['hot'],
  },
  {
    key: 'compact_zstd',
    label: 'the same compact rows, Zstd 64 KiB chunks (level 3): the archive preset, for the cold tier',
    open: (settings) => CassandraEventStore.connect(withTables(settings, ARCHIVE_TABLE_OPTIONS)),
    tables: { events: ['events_v2'], snapshots: ['snapshots_v2'] },
    tiers: ['cold'],
  },
];

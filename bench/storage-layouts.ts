/**
 * The row layouts the storage bench (bench/storage-bench.ts) measures, each in a keyspace of its
 * own. A layout is a way to open an event store that writes it, and the names of its tables. To
 * measure another layout, add an entry: the bench writes the same histories through it and
 * reports it beside the others, with the ratios to the baseline.
 */
import { CassandraEventStore, type CassandraSettings } from '../src/store/cassandra/cassandra-event-store.ts';
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
  /** The tier targets its figures are judged against (the service has one keyspace for both until the tiers exist). */
  tiers: readonly Tier[];
  /** The layout the others are compared with (the one of the code before issue 13). */
  baseline?: boolean;
}

export const LAYOUTS: readonly StorageLayout[] = [
  {
    key: 'current',
    label: "today's rows (`events`: clustered by aggregate name and id, time, position; payload as JSON text; ids as text)",
    open: (settings) => CassandraEventStore.connect(settings),
    tables: { events: ['events'], snapshots: ['snapshots'] },
    tiers: ['hot', 'cold'],
    baseline: true,
  },
];

/**
 * Bytes on disk of each tier of the two-tier store (docs/storage.md#two-tiers), for the storage
 * bench: the event and snapshot tables of the hot keyspace and of the cold one, from Cassandra's
 * own statistics (nodetool tablestats, from the node's jars). Each tier may be its own node:
 * `nodes` says which run folder (or JMX port) answers for it; by default the local node for both.
 */
import { compact, flush, tableStats, type NodetoolOptions } from '../cluster/cassandra/nodetool.ts';
import { bothTiers, type CassandraSettings } from '../src/store/cassandra/tiers/tier-settings.ts';

const TABLES = ['events_v2', 'snapshots_v2'] as const;

export interface TierBytes {
  keyspace: string;
  /** "Space used (live)" per table, bytes. */
  events: number;
  snapshots: number;
  total: number;
  /** Estimated partitions of events_v2 (member generations held). */
  eventPartitions: number;
}

/**
 * Hot and cold bytes. `settle`: flush and compact both tiers' tables first, so the figures are of
 * SSTables alone (no memtables, no obsolete files, partition deletes applied where gc allows).
 */
export async function tierBytes(
  shared: CassandraSettings,
  options: { nodes?: { hot?: NodetoolOptions; cold?: NodetoolOptions }; settle?: boolean } = {},
): Promise<{ hot: TierBytes; cold: TierBytes }> {
  const tiers = bothTiers(shared);
  const measure = async (keyspace: string, node: NodetoolOptions): Promise<TierBytes> => {
    if (options.settle) {
      await flush(keyspace, TABLES, node);
      await compact(keyspace, TABLES, node);
    }
    const stats = await tableStats(keyspace, TABLES, node);
    const of = (table: string) => stats.find((s) => s.table === table);
    const events = of('events_v2')?.spaceUsedLive ?? 0;
    const snapshots = of('snapshots_v2')?.spaceUsedLive ?? 0;
    return { keyspace, events, snapshots, total: events + snapshots, eventPartitions: of('events_v2')?.partitions ?? 0 };
  };
  return {
    hot: await measure(tiers.hot.keyspace, options.nodes?.hot ?? {}),
    cold: await measure(tiers.cold.keyspace, options.nodes?.cold ?? {}),
  };
}

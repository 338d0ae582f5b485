/**
 * The settings of each tier (docs/storage.md#two-tiers): a tier's own keys over the shared
 * `service.cassandra` keys, so a config written before tiers keeps working (hot is the keyspace it
 * named; cold is the same cluster's keyspace of that name + "_cold").
 */
import type { ServiceConfig } from '../../../config/types.ts';

export type CassandraSettings = ServiceConfig['cassandra'];
export type Tier = 'hot' | 'cold';

const MAX_KEYSPACE = 48;

export function tierSettings(shared: CassandraSettings, tier: Tier): CassandraSettings {
  const own = shared[tier] ?? {};
  const hotKeyspace = shared.hot?.keyspace ?? shared.keyspace;
  const keyspace = own.keyspace ?? (tier === 'hot' ? hotKeyspace : `${hotKeyspace}_cold`);
  if (keyspace.length > MAX_KEYSPACE) {
    throw new Error(`service.cassandra.${tier}.keyspace: "${keyspace}" is longer than Cassandra's ${MAX_KEYSPACE} characters; name the ${tier} keyspace explicitly`);
  }
  return {
    ...shared,
    contactPoints: own.contactPoints ?? shared.contactPoints,
    localDataCenter: own.localDataCenter ?? shared.localDataCenter,
    keyspace,
    replication: { ...shared.replication, ...own.replication },
    readConsistency: own.readConsistency ?? shared.readConsistency,
    writeConsistency: own.writeConsistency ?? shared.writeConsistency,
    serialConsistency: own.serialConsistency ?? shared.serialConsistency,
    requestTimeoutMs: own.requestTimeoutMs ?? shared.requestTimeoutMs,
    tables: own.tables ? { ...shared.tables, ...own.tables } : shared.tables,
  };
}

/**
 * Both tiers, refused when they are the same keyspace of the same cluster: the archiver drops hot
 * partitions once cold holds their rows, and would then drop the only copy.
 */
export function bothTiers(shared: CassandraSettings): { hot: CassandraSettings; cold: CassandraSettings } {
  const hot = tierSettings(shared, 'hot');
  const cold = tierSettings(shared, 'cold');
  const sameCluster = hot.contactPoints.some((point) => cold.contactPoints.includes(point));
  if (sameCluster && hot.keyspace === cold.keyspace) {
    throw new Error(`service.cassandra: the hot and cold tiers are both keyspace ${hot.keyspace} of the same cluster; give the cold tier its own keyspace`);
  }
  return { hot, cold };
}

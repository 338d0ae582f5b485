/**
 * What a schema cannot check about a keyspace's replication: data centers only make sense with
 * NetworkTopologyStrategy, and the data center the service reads and writes in (its
 * `localDataCenter`, where LOCAL_QUORUM and LOCAL_SERIAL count) must hold replicas. Pure: used by
 * the config loader (a clear error at start) and by the schema renderer (never a keyspace the
 * service could not use).
 */
export interface Replication {
  class: 'SimpleStrategy' | 'NetworkTopologyStrategy';
  replicationFactor: number;
  dataCenters?: Readonly<Record<string, number>> | undefined;
}

/** Null when usable; else what is wrong, naming the field under `at` (e.g. "service.cassandra"). */
export function replicationProblem(replication: Replication, localDataCenter: string, at: string): string | null {
  const { dataCenters } = replication;
  if (!dataCenters) return null;
  if (replication.class !== 'NetworkTopologyStrategy') {
    return `${at}.replication.dataCenters needs class "NetworkTopologyStrategy" (SimpleStrategy places replicas without regard to data centers)`;
  }
  // Own keys only: a data center may be named like an Object.prototype property.
  const local = Object.hasOwn(dataCenters, localDataCenter) ? dataCenters[localDataCenter] : 0;
  if (!local) {
    return `${at}.replication.dataCenters gives no replicas to the local data center "${localDataCenter}" (${at}.localDataCenter), where LOCAL_QUORUM and LOCAL_SERIAL are counted`;
  }
  return null;
}

/** Replicas per data center, in the order written: `dataCenters`, or the local one alone. */
export function replicasPerDataCenter(replication: Replication, localDataCenter: string): [string, number][] {
  return replication.dataCenters ? Object.entries(replication.dataCenters) : [[localDataCenter, replication.replicationFactor]];
}

/**
 * An operator's view of the Cassandra hosts behind a store: which ones the driver sees up or
 * down (GET /v1/admin/store) and how many requests each one served or failed (/metrics). Host
 * addresses come from the driver's own discovery (system.peers), never from a request.
 */
import type cassandra from 'cassandra-driver';

export interface StoreHost {
  /** `ip:port` as the driver knows it. */
  address: string;
  datacenter: string;
  rack: string;
  up: boolean;
  cassandraVersion: string;
}

export interface HostCount {
  requests: number;
  errors: number;
}

/** What GET /v1/admin/store answers. */
export type StoreDescription =
  /** A store without hosts: `sqlite` (or an in-memory store in tests). */
  | { kind: string; hosts: [] }
  | {
      kind: 'cassandra';
      keyspace: string;
      localDataCenter: string;
      consistency: { read: string; write: string; serial: string };
      hosts: StoreHost[];
      /** The two-tier store (docs/storage.md#two-tiers): `hosts` above are the hot tier's. */
      tiers?: StoreTiers;
    };

/** The tiers of the two-tier store, as GET /v1/admin/store (and the dashboard's store view) shows them. */
export interface StoreTiers {
  hot: { keyspace: string };
  /** `connected` false: the cold tier could not be reached yet (the store retries); no hosts then. */
  cold: { keyspace: string; connected: boolean; hosts: StoreHost[] };
  /** The store's background work since start (copies failed or skipped, archive runs and failures, sweeps). */
  background: Record<string, number>;
}

/** A store that can describe its hosts (the Cassandra stores). */
export interface DescribesHosts {
  describeStore(): StoreDescription;
  /** Requests and errors per host address since the store opened. */
  readonly hostCounts: ReadonlyMap<string, HostCount>;
}

export function describesHosts(store: unknown): store is DescribesHosts {
  return typeof (store as Partial<DescribesHosts> | null)?.describeStore === 'function' && (store as Partial<DescribesHosts>).hostCounts instanceof Map;
}

/** The hosts the driver knows, in address order (stable for a scrape or an answer). */
export function hostsOf(client: cassandra.Client): StoreHost[] {
  return client.hosts
    .values()
    .map((host) => ({ address: host.address, datacenter: host.datacenter, rack: host.rack, up: host.isUp(), cassandraVersion: host.cassandraVersion }))
    .sort((a, b) => a.address.localeCompare(b.address));
}

/**
 * Where the cluster's views and heartbeats live: the same Cassandra cluster as the events
 * (tables cluster_views and cluster_heartbeats in cluster/cassandra/schema.cql). Every node
 * reads the newest view; a change writes the next epoch with INSERT ... IF NOT EXISTS, so two
 * concurrent changes cannot both become epoch N+1 (the loser re-reads and tries again).
 */
import cassandra from 'cassandra-driver';
import type { ServiceConfig } from '../config/types.ts';
import { connectToKeyspace, shutdownBounded } from '../store/cassandra/connect.ts';
import { isUnavailable, unavailable } from '../store/cassandra/driver-errors.ts';
import type { ClusterNode, ClusterView } from './view.ts';

const { types } = cassandra;
type Client = cassandra.Client;

const CQL = {
  latest: 'SELECT cluster_id, epoch, nodes, reason, changed_at FROM cluster_views WHERE cluster_id = ? LIMIT 1',
  insert: 'INSERT INTO cluster_views (cluster_id, epoch, nodes, reason, changed_at) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS',
  beat: 'INSERT INTO cluster_heartbeats (cluster_id, node_id, address, beat_at) VALUES (?, ?, ?, ?)',
  beats: 'SELECT node_id, beat_at FROM cluster_heartbeats WHERE cluster_id = ?',
} as const;

export interface MembershipStore {
  latest(clusterId: string): Promise<ClusterView | null>;
  /** Writes `view` as its epoch; false when another change took that epoch first. */
  propose(view: ClusterView): Promise<boolean>;
  beat(clusterId: string, nodeId: string, address: string, at: number): Promise<void>;
  beats(clusterId: string): Promise<Map<string, number>>;
  close(): Promise<void>;
}

function toView(row: cassandra.types.Row): ClusterView {
  return {
    clusterId: row['cluster_id'] as string,
    epoch: row['epoch'] as number,
    nodes: JSON.parse(row['nodes'] as string) as ClusterNode[],
    reason: row['reason'] as string,
    changedAt: (row['changed_at'] as cassandra.types.Long).toNumber(),
  };
}

export class CassandraMembershipStore implements MembershipStore {
  private constructor(
    private readonly client: Client,
    private readonly serial: cassandra.QueryOptions,
    private readonly write: cassandra.QueryOptions,
  ) {}

  static async connect(settings: ServiceConfig['cassandra']): Promise<CassandraMembershipStore> {
    const client = await connectToKeyspace(settings, { purpose: 'cluster membership' });
    const serialLevel = types.consistencies[settings.serialConsistency === 'SERIAL' ? 'serial' : 'localSerial'];
    return new CassandraMembershipStore(
      client,
      // Views are read at SERIAL: a node must never act on a view older than one a change
      // already committed with Paxos (it would route, or fence, by a stale ring).
      { prepare: true, consistency: serialLevel },
      { prepare: true, consistency: types.consistencies.localQuorum, serialConsistency: serialLevel },
    );
  }

  async latest(clusterId: string): Promise<ClusterView | null> {
    const row = (await this.#execute('reading the cluster view', CQL.latest, [clusterId], this.serial)).first();
    return row ? toView(row) : null;
  }

  async propose(view: ClusterView): Promise<boolean> {
    const result = await this.#execute(
      'proposing a cluster view',
      CQL.insert,
      [view.clusterId, view.epoch, JSON.stringify(view.nodes), view.reason, types.Long.fromNumber(view.changedAt)],
      this.write,
    );
    return result.wasApplied();
  }

  async beat(clusterId: string, nodeId: string, address: string, at: number): Promise<void> {
    await this.#execute('a heartbeat', CQL.beat, [clusterId, nodeId, address, types.Long.fromNumber(at)], { prepare: true, consistency: types.consistencies.localOne });
  }

  async beats(clusterId: string): Promise<Map<string, number>> {
    const result = await this.#execute('reading heartbeats', CQL.beats, [clusterId], { prepare: true, consistency: types.consistencies.localQuorum });
    return new Map(result.rows.map((row) => [row['node_id'] as string, (row['beat_at'] as cassandra.types.Long).toNumber()]));
  }

  /**
   * A Cassandra that does not answer is STORE_UNAVAILABLE (503, retry), as for the event store:
   * the cluster admin routes read and write the membership, and a raw driver error would be a 500.
   */
  async #execute(what: string, query: string, params: unknown[], options: cassandra.QueryOptions): Promise<cassandra.types.ResultSet> {
    try {
      return await this.client.execute(query, params, options);
    } catch (error) {
      throw isUnavailable(error) ? unavailable(error, what) : error;
    }
  }

  async close(): Promise<void> {
    await shutdownBounded(this.client);
  }
}

/**
 * Membership in this process's memory: for tools that build a cluster node without a cluster
 * (the OpenAPI generator) and for tests of one process. Same semantics, no sharing.
 */
export class InMemoryMembershipStore implements MembershipStore {
  readonly #views = new Map<string, ClusterView[]>();
  readonly #beats = new Map<string, Map<string, number>>();

  async latest(clusterId: string): Promise<ClusterView | null> {
    return structuredClone(this.#views.get(clusterId)?.at(-1) ?? null);
  }

  async propose(view: ClusterView): Promise<boolean> {
    const views = this.#views.get(view.clusterId) ?? [];
    if (views.some((existing) => existing.epoch === view.epoch)) return false;
    views.push(structuredClone(view));
    views.sort((a, b) => a.epoch - b.epoch);
    this.#views.set(view.clusterId, views);
    return true;
  }

  async beat(clusterId: string, nodeId: string, _address: string, at: number): Promise<void> {
    const beats = this.#beats.get(clusterId) ?? new Map<string, number>();
    beats.set(nodeId, at);
    this.#beats.set(clusterId, beats);
  }

  async beats(clusterId: string): Promise<Map<string, number>> {
    return new Map(this.#beats.get(clusterId) ?? []);
  }

  async close(): Promise<void> {}
}

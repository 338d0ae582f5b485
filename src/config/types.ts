import type { Rules } from '../domain/rules.ts';

export type Consistency = 'ONE' | 'TWO' | 'THREE' | 'QUORUM' | 'ALL' | 'LOCAL_QUORUM' | 'EACH_QUORUM' | 'LOCAL_ONE';

/** The `service` section, read once at start; every key has a default. */
export interface ServiceConfig {
  host: string;
  port: number;
  store: 'sqlite' | 'cassandra';
  sqlite: { path: string };
  cassandra: {
    contactPoints: string[];
    localDataCenter: string;
    keyspace: string;
    replication: { class: 'SimpleStrategy' | 'NetworkTopologyStrategy'; replicationFactor: number };
    readConsistency: Consistency;
    writeConsistency: Consistency;
    serialConsistency: 'SERIAL' | 'LOCAL_SERIAL';
    requestTimeoutMs: number;
  };
  clock: 'system' | 'manual';
  snapshot: { eventCount: number; replayMs: number };
  cache: { maxMembers: number; maxBytes: number };
  actors: { workers: number | null; maxQueuedPerMember: number; maxPendingPerWorker: number; groupCommit: boolean };
  rulesReloadIntervalMs: number;
  conflictRetries: number;
  bodyLimitBytes: number;
  /** The HTTP listeners' limits and where /docs and /metrics are served. */
  http: HttpConfig;
  /** Admin and debug routes: no token means they do not exist; port null shares the edge port. */
  admin: { token: string | null; port: number | null };
  /** Cluster mode (DESIGN.md section 5); null: a single node. */
  cluster: ClusterConfig | null;
  /** Per-member token bucket on /v1/members routes; null: no rate limit. */
  rateLimit: { perMemberPerSecond: number; burst: number } | null;
}

/** Where an operator route (/docs, /metrics) is served: without a token, with the admin routes behind the token, or nowhere. */
export type Exposure = 'public' | 'admin' | 'off';

export interface HttpConfig {
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  socketTimeoutMs: number;
  maxUrlBytes: number;
  maxHeaderBytes: number;
  docs: Exposure;
  metrics: Exposure;
}

export interface Config {
  service: ServiceConfig;
  rules: Rules;
  /** Absolute path of the file this came from, or null for a config built in code (tests). */
  path: string | null;
}

export interface ClusterConfig {
  clusterId: string;
  nodeId: string;
  advertise: string | null;
  join: string | null;
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  failureTimeoutMs: number;
  moveConcurrency: number;
  forwardTimeoutMs: number;
  forwardConnections: number;
  vnodes: number;
}

/**
 * JSON schemas of the config file. Every object refuses unknown keys, so a typo is an error
 * that names the key instead of a setting silently ignored. Keys added beyond the documented
 * shape are optional and carry defaults (applied by Ajv's `useDefaults`). The `rules` section's
 * schema is the domain's (src/domain/rules.ts), built from the limit rules.
 */
import { NODE_ID_PATTERN } from '../domain/ids.ts';
import { rulesSchema } from '../domain/rules.ts';

/**
 * Storage options of one Cassandra table (src/store/cassandra/table-options.ts). `defaults`: the
 * table's own (the event tables favour read latency; an archive would favour density).
 */
function tableOptions<A extends string, C extends number>(defaults: { algorithm: A; chunkKb: C }) {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      compression: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          algorithm: { type: 'string', enum: ['LZ4', 'Zstd', 'Snappy', 'Deflate', 'none'], default: defaults.algorithm },
          // KiB of data compressed together; a read decompresses whole chunks.
          chunkKb: { type: 'integer', enum: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], default: defaults.chunkKb },
          // Zstd only; null: Cassandra's default (3).
          level: { type: ['integer', 'null'], minimum: -7, maximum: 22, default: null },
        },
      },
    },
  } as const;
}

const consistency = {
  type: 'string',
  enum: ['ONE', 'TWO', 'THREE', 'QUORUM', 'ALL', 'LOCAL_QUORUM', 'EACH_QUORUM', 'LOCAL_ONE'],
} as const;

/**
 * NetworkTopologyStrategy over several data centers: replicas per data center, by name (e.g.
 * `{ "eu-west": 3, "us-east": 3 }`). Absent: `replicationFactor` replicas in `localDataCenter`
 * only. Names follow Cassandra's (the driver's `localDataCenter` pattern); 0 keeps none there.
 */
const dataCenters = {
  type: 'object',
  minProperties: 1,
  maxProperties: 32,
  propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$' },
  additionalProperties: { type: 'integer', minimum: 0, maximum: 9 },
} as const;

/**
 * One tier of the Cassandra store (docs/storage.md#two-tiers): every key may be left out and
 * then comes from the shared `service.cassandra` keys, so a config without tiers keeps working
 * (both tiers on the shared contact points, as two keyspaces). `tables` defaults per tier.
 */
function cassandraTier<T extends ReturnType<typeof tableOptions>>(tables: T, filled: boolean) {
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      contactPoints: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
      localDataCenter: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
      keyspace: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,47}$' },
      replication: {
        type: 'object',
        additionalProperties: false,
        properties: {
          class: { type: 'string', enum: ['SimpleStrategy', 'NetworkTopologyStrategy'] },
          replicationFactor: { type: 'integer', minimum: 1, maximum: 9 },
          dataCenters,
        },
      },
      readConsistency: consistency,
      writeConsistency: consistency,
      serialConsistency: { type: 'string', enum: ['SERIAL', 'LOCAL_SERIAL'] },
      requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 120000 },
      tables: {
        type: 'object',
        additionalProperties: false,
        // Cold's are filled in (its own preset); hot's, when absent, are the shared `tables`.
        ...(filled ? { default: {} } : {}),
        properties: { events: tables, snapshots: tables },
      },
    },
  } as const;
}

export const serviceSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    host: { type: 'string', minLength: 1, default: '127.0.0.1' },
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    store: { type: 'string', enum: ['sqlite', 'cassandra'], default: 'sqlite' },
    sqlite: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Relative paths are resolved against the config file's folder.
        path: { type: 'string', minLength: 1, default: '../data/license-accounting.db' },
      },
    },
    cassandra: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        contactPoints: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, default: ['127.0.0.1:9042'] },
        localDataCenter: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$', default: 'datacenter1' },
        keyspace: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,47}$', default: 'license_accounting' },
        replication: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            class: { type: 'string', enum: ['SimpleStrategy', 'NetworkTopologyStrategy'], default: 'SimpleStrategy' },
            replicationFactor: { type: 'integer', minimum: 1, maximum: 9, default: 1 },
            dataCenters,
          },
        },
        readConsistency: { ...consistency, default: 'LOCAL_QUORUM' },
        writeConsistency: { ...consistency, default: 'LOCAL_QUORUM' },
        serialConsistency: { type: 'string', enum: ['SERIAL', 'LOCAL_SERIAL'], default: 'LOCAL_SERIAL' },
        requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 120000, default: 5000 },
        // Table options of the event tables (docs/storage.md#compression): LZ4 in 16 KiB
        // chunks, for the read latency of member loads (Zstd in 64 KiB chunks suits an archive).
        tables: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            events: tableOptions({ algorithm: 'LZ4', chunkKb: 16 }),
            snapshots: tableOptions({ algorithm: 'LZ4', chunkKb: 16 }),
          },
        },
        // The two tiers (docs/storage.md#two-tiers): hot serves real-time loads and fences
        // writes; cold keeps every event for debugging and audit. Unset keys come from the keys
        // above; cold's keyspace defaults to the hot keyspace's name + "_cold", its tables to Zstd
        // in 64 KiB chunks (density; it is read for debugging, not on the request path).
        hot: cassandraTier(tableOptions({ algorithm: 'LZ4', chunkKb: 16 }), false),
        cold: cassandraTier(tableOptions({ algorithm: 'Zstd', chunkKb: 64 }), true),
        archive: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            // Seconds between two sweeps for sealed generations not yet archived (0: only at start).
            sweepSeconds: { type: 'integer', minimum: 0, maximum: 86400, default: 60 },
            // Members a sweep looks at, at most; the next sweep goes on where it stopped.
            sweepMembers: { type: 'integer', minimum: 1, maximum: 1000000, default: 1000 },
          },
        },
      },
    },
    clock: { type: 'string', enum: ['system', 'manual'], default: 'system' },
    snapshot: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Snapshot when a load replays at least this many events, or after this many appends.
        eventCount: { type: 'integer', minimum: 1, default: 200 },
        // Snapshot when replaying a member took at least this long.
        replayMs: { type: 'integer', minimum: 0, default: 50 },
      },
    },
    // What a member's state keeps (src/domain/member/retention.ts): days a released license stays
    // in memory and snapshots after its release; then it leaves at the next snapshot and answers
    // LICENSE_NOT_FOUND (docs/rules.md).
    retention: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        releasedLicenseDays: { type: 'integer', minimum: 0, maximum: 3650, default: 30 },
      },
    },
    cache: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Per worker: members kept in memory, and their approximate total size.
        maxMembers: { type: 'integer', minimum: 1, default: 100000 },
        maxBytes: { type: 'integer', minimum: 1048576, default: 268435456 },
      },
    },
    actors: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Worker threads hosting member actors; null: one per core; 0: run in the main thread.
        workers: { anyOf: [{ type: 'integer', minimum: 0, maximum: 256 }, { type: 'null' }], default: null },
        // Commands queued for one member beyond which new ones get 503 OVERLOADED.
        maxQueuedPerMember: { type: 'integer', minimum: 1, default: 64 },
        // Requests in flight to one worker beyond which new ones get 503 OVERLOADED.
        maxPendingPerWorker: { type: 'integer', minimum: 1, default: 10000 },
        // Write the appends of one event-loop turn together (one transaction) where the store can.
        groupCommit: { type: 'boolean', default: true },
      },
    },
    rulesReloadIntervalMs: { type: 'integer', minimum: 100, maximum: 60000, default: 1000 },
    conflictRetries: { type: 'integer', minimum: 0, maximum: 10, default: 3 },
    bodyLimitBytes: { type: 'integer', minimum: 1024, default: 1048576 },
    // The HTTP listeners (edge and admin): limits on what one connection can hold, and where
    // /docs and /metrics are served. docs/security.md says why each default is what it is.
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Connections open at once per listener; past it new ones are closed at accept.
        maxConnections: { type: 'integer', minimum: 1, maximum: 1000000, default: 10000 },
        // A request's line and headers must arrive within this; the whole request (and body) within the next.
        headersTimeoutMs: { type: 'integer', minimum: 100, maximum: 600000, default: 10000 },
        requestTimeoutMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 30000 },
        // An idle keep-alive connection is closed after this (longer than the load balancer's idle timeout).
        keepAliveTimeoutMs: { type: 'integer', minimum: 100, maximum: 3600000, default: 72000 },
        // No byte either way for this long (a client that stopped reading its answer): closed.
        socketTimeoutMs: { type: 'integer', minimum: 1000, maximum: 3600000, default: 60000 },
        maxUrlBytes: { type: 'integer', minimum: 256, maximum: 1048576, default: 8192 },
        // The request line and headers together (Node's maxHeaderSize counts both).
        maxHeaderBytes: { type: 'integer', minimum: 1024, maximum: 1048576, default: 32768 },
        // "public": no token (today's default); "admin": behind the admin token, with the admin
        // routes (on the admin port when there is one); "off": not served.
        docs: { type: 'string', enum: ['public', 'admin', 'off'], default: 'public' },
        metrics: { type: 'string', enum: ['public', 'admin', 'off'], default: 'public' },
      },
    },
    // Admin and debug routes: bearer token (ADMIN_TOKEN overrides; null: the routes do not exist)
    // and their own port (null: they share the edge port).
    admin: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        token: { type: ['string', 'null'], minLength: 16, maxLength: 1024, default: null },
        port: { type: ['integer', 'null'], minimum: 0, maximum: 65535, default: null },
      },
    },
    // Cluster mode: null is a single node. Needs the Cassandra store (the
    // membership and the ownership fences live there) and an admin token (nodes use it to talk).
    cluster: {
      type: ['object', 'null'],
      additionalProperties: false,
      default: null,
      required: ['nodeId'],
      properties: {
        clusterId: { type: 'string', pattern: NODE_ID_PATTERN, default: 'default' },
        nodeId: { type: 'string', pattern: NODE_ID_PATTERN },
        // The URL other nodes reach this one at (default: http://<host>:<port> once listening).
        advertise: { type: ['string', 'null'], pattern: '^https?://[^/]+$', default: null },
        // A member's URL to register with at start (--join); null: bootstrap or rejoin from the store.
        join: { type: ['string', 'null'], pattern: '^https?://[^/]+$', default: null },
        pollIntervalMs: { type: 'integer', minimum: 50, maximum: 60000, default: 500 },
        heartbeatIntervalMs: { type: 'integer', minimum: 50, maximum: 60000, default: 500 },
        // A node whose heartbeat is older than this is taken out of the ring by the others.
        failureTimeoutMs: { type: 'integer', minimum: 200, maximum: 600000, default: 5000 },
        // Members handed off at once per node during a rebalance (released here, warmed there).
        moveConcurrency: { type: 'integer', minimum: 1, maximum: 10000, default: 64 },
        // Planned moves ship each member's state in memory to its new owner, which installs it
        // without reading the store (docs/cluster.md, "Live migration"); false: it reloads there.
        liveMigration: { type: 'boolean', default: true },
        forwardTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
        forwardConnections: { type: 'integer', minimum: 1, maximum: 1024, default: 32 },
        vnodes: { type: 'integer', minimum: 1, maximum: 4096, default: 160 },
      },
    },
    // Per-member token bucket on the /v1/members routes; null disables rate limiting.
    rateLimit: {
      type: ['object', 'null'],
      additionalProperties: false,
      default: {},
      properties: {
        perMemberPerSecond: { type: 'number', exclusiveMinimum: 0, maximum: 1000000, default: 50 },
        burst: { type: 'integer', minimum: 1, maximum: 1000000, default: 100 },
      },
    },
  },
} as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: { service: serviceSchema, rules: rulesSchema },
} as const;

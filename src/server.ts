/**
 * The composition root: from a validated config, open the store, wire the service and the
 * HTTP app, and watch the rules. `main.ts` adds listen() and signals; tests call this directly.
 */
import { availableParallelism } from 'node:os';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { ActorPool } from './actors/actor-pool.ts';
import type { Config } from './config/types.ts';
import { RulesSource, watchRulesFile } from './config/rules-source.ts';
import type { Rules } from './domain/rules.ts';
import { buildApp, type AppDependencies } from './http/app.ts';
import { checkHttpLimits } from './http/http-server.ts';
import type { LicensePort } from './http/license-port.ts';
import type { MetricsSource } from './http/routes/metrics-routes.ts';
import { EdgeMetrics, instrumentStore, ServiceMetrics } from './observability/metrics.ts';
import { instrumentDecisions } from './observability/instrumented-port.ts';
import { ManualClock, systemClock, type Clock } from './service/clock.ts';
import { DEGRADED_CHECK_LOG, licenseServiceFromConfig, type LicenseService } from './service/license-service.ts';
import type { EventStore } from './store/event-store.ts';
import { openEventStore } from './store/open-store.ts';
import { ClusterNode, type LocalActors } from './cluster/cluster-node.ts';
import { CassandraMembershipStore, type MembershipStore } from './cluster/membership-store.ts';
import { Peers } from './cluster/peers.ts';
import { requireClusterPrerequisites } from './config/load.ts';

export interface Server {
  /** The edge app (and the admin and debug routes too, unless `service.admin.port` is set). */
  app: FastifyInstance;
  /** The admin and debug routes' own app, when `service.admin.port` is set (and a token is). */
  adminApp: FastifyInstance | null;
  /** Listens on the configured host and port(s); resolves with the addresses. */
  listen(): Promise<{ edge: string; admin: string | null }>;
  /** What the routes call: the actor pool, or the in-process service when `actors.workers` is 0. */
  service: LicensePort;
  /** The actor pool, when the service runs on worker threads. */
  pool: ActorPool | null;
  store: EventStore;
  rules: RulesSource;
  clock: Clock;
  /** This node's part in the cluster (cluster mode), started by listen(). */
  cluster: ClusterNode | null;
  /** Stops taking requests, lets queued commands finish, then closes the store. */
  close(): Promise<void>;
}

export interface ServerOptions {
  logger?: FastifyServerOptions['logger'];
  /** Start time of a manual clock (defaults to the real time at start). */
  manualClockStart?: number;
  /** A store to use instead of the configured one (tests). */
  store?: EventStore;
  /** A membership store to use instead of Cassandra's (cluster mode; the OpenAPI generator). */
  membership?: MembershipStore;
  /** Watch the config file for rules edits (default: when the config came from a file). */
  watchRules?: boolean;
}

export async function createServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  checkHttpLimits(config.service.http); // before anything is opened
  const store = options.store ?? (await openEventStore(config.service));
  const clock: Clock = config.service.clock === 'manual' ? new ManualClock(options.manualClockStart ?? Date.now()) : systemClock;
  const rules = new RulesSource(config.rules);
  let accepting = true;

  // Logging goes through the app's logger, which exists only once the app is built; the
  // callbacks run long after that.
  let app: FastifyInstance | undefined;
  // Every rules version put in force is kept in the store (first save wins), so the debug API
  // can explain an old decision with the rules it used. Best effort: a failed save is logged
  // and the service goes on (the current rules are always at hand for explaining the present).
  const rememberRules = (next: Rules): Promise<void> =>
    store.saveRulesVersion(next.version, JSON.stringify(next), clock.now()).catch((error: unknown) => {
      app?.log.warn({ err: error, rulesVersion: next.version }, 'could not save the rules version in the store');
    });
  await rememberRules(rules.current());
  const stopRememberingRules = rules.subscribe((next) => void rememberRules(next));
  // Cluster mode: the membership lives in Cassandra, next to the events and their fences.
  requireClusterPrerequisites(config);
  const clusterSettings = config.service.cluster;
  let cluster: ClusterNode | null = null;
  // In a cluster every load claims the member with this node's fence (see ClusterNode.fenceFor).
  const ownership = clusterSettings ? (memberId: string) => (cluster as ClusterNode).fenceFor(memberId) : undefined;
  const workers = config.service.actors.workers ?? availableParallelism();
  let pool: ActorPool | null = null;
  let inProcess: LicenseService | null = null;
  // Used when the members live in this thread (actors.workers 0); workers keep their own.
  const inProcessMetrics = new ServiceMetrics({ worker: 'main' }, () => inProcess?.stats() ?? { membersInMemory: 0, approximateBytes: 0, mailboxDepth: 0, loads: 0, cacheHits: 0 });
  if (workers > 0) {
    pool = await ActorPool.start({
      config,
      clock,
      rules,
      onWorkerFailure: (workerId, reason) => app?.log.error({ workerId, reason }, 'worker failed; replacing it'),
      ...(ownership ? { ownership } : {}),
    });
  } else {
    inProcess = licenseServiceFromConfig(config.service, {
      store: instrumentStore(store, inProcessMetrics),
      rules,
      clock,
      onSnapshotError: (memberId, error) =>
        app?.log.warn({ memberId, err: error }, 'snapshot failed; the member will replay more events on its next load'),
      onDegradedCheck: (memberId, error) => app?.log.warn({ memberId, err: error }, DEGRADED_CHECK_LOG),
      ...(ownership ? { ownership } : {}),
    });
  }
  let membership: MembershipStore | null = null;
  let peers: Peers | null = null;
  if (clusterSettings) {
    const local = inProcess;
    const actors: LocalActors = pool ?? {
      memberIds: async () => local?.memberIds() ?? [],
      memberCount: async () => local?.membersInMemory ?? 0,
      release: (memberId) => (local as LicenseService).release(memberId),
      warm: (memberId) => (local as LicenseService).warm(memberId),
    };
    membership = options.membership ?? (await CassandraMembershipStore.connect(config.service.cassandra));
    peers = new Peers(config.service.admin.token as string, clusterSettings.forwardConnections);
    cluster = new ClusterNode({
      settings: clusterSettings,
      store: membership,
      actors,
      peers,
      log: {
        info: (object, message) => app?.log.info(object, message),
        warn: (object, message) => app?.log.warn(object, message),
        error: (object, message) => app?.log.error(object, message),
      },
    });
  }
  const edgeMetrics = new EdgeMetrics(() => rules.current().version);
  const service: LicensePort = instrumentDecisions(pool ?? (inProcess as LicenseService), edgeMetrics);
  const metrics: MetricsSource = {
    edge: edgeMetrics,
    exposition: async () => edgeMetrics.exposition(pool ? await pool.metrics() : [await inProcessMetrics.json()]),
  };
  // Admin and debug: behind the token, on the edge app or (service.admin.port) on their own.
  const adminToken = config.service.admin.token;
  const separateAdmin = adminToken !== null && config.service.admin.port !== null;
  const appDependencies: AppDependencies = {
    service,
    clock,
    bodyLimitBytes: config.service.bodyLimitBytes,
    http: config.service.http,
    readiness: {
      ready: () => accepting && (cluster === null || cluster.started),
      describe: () => ({
        store: store.kind,
        rulesVersion: rules.current().version,
        workers: pool ? pool.workerIds.length : 0,
        ...(cluster?.started ? { node: cluster.nodeId, clusterEpoch: cluster.view.epoch } : {}),
      }),
    },
    logger: options.logger,
    debug: { store, rules: () => rules.current(), now: () => clock.now() },
    metrics,
    admin: {
      token: adminToken,
      service: pool ?? (inProcess as LicenseService),
      rules,
      configPath: config.path,
      clock,
      onRulesReload: (change) => app?.log.info(change, 'admin rules reload'),
    },
    rateLimit: config.service.rateLimit,
    cluster:
      cluster && membership && peers && clusterSettings
        ? { node: cluster, peers, token: config.service.admin.token as string, timeoutMs: clusterSettings.forwardTimeoutMs, store: membership, vnodes: clusterSettings.vnodes }
        : null,
  };
  app = buildApp({ ...appDependencies, surface: separateAdmin ? 'edge' : 'all' });
  const adminApp = separateAdmin ? buildApp({ ...appDependencies, surface: 'admin' }) : null;
  const built = app;

  const stopWatching =
    (options.watchRules ?? config.path !== null) && config.path !== null
      ? watchRulesFile(config.path, rules, config.service.rulesReloadIntervalMs, built.log)
      : () => {};

  return {
    app: built,
    adminApp,
    async listen() {
      const edge = await built.listen({ host: config.service.host, port: config.service.port });
      const admin = adminApp ? await adminApp.listen({ host: config.service.host, port: config.service.admin.port ?? 0 }) : null;
      // Joins once it can be reached: the other nodes forward to the edge address.
      await cluster?.start(edge);
      return { edge, admin };
    },
    service,
    pool,
    store,
    rules,
    clock,
    cluster,
    async close() {
      accepting = false;
      stopWatching();
      stopRememberingRules();
      // Hand this node's members off while it can still forward, then stop following.
      await cluster?.leave(10_000);
      await cluster?.close();
      // Stops accepting connections and waits for in-flight requests.
      await Promise.all([built.close(), adminApp?.close()]);
      if (pool) await pool.close(); // each worker drains its mailboxes and closes its store
      if (inProcess) await inProcess.drain();
      await peers?.close();
      await membership?.close();
      await store.close();
    },
  };
}

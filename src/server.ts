/**
 * The composition root: from a validated config, open the store, start the node's members (on
 * worker threads or in this thread), open cluster mode when configured, and build the HTTP app
 * over them; watch the rules. `main.ts` adds listen() and signals; tests call this directly.
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { ActorPool } from './actors/actor-pool.ts';
import { startActors } from './actors/start.ts';
import { openClusterMode, type ClusterMode } from './cluster/cluster-mode.ts';
import type { ClusterNode } from './cluster/cluster-node.ts';
import type { MembershipStore } from './cluster/membership-store.ts';
import { requireClusterPrerequisites } from './config/load.ts';
import { RulesSource, watchRulesFile } from './config/rules-source.ts';
import type { Config } from './config/types.ts';
import { AppError } from './errors/catalog.ts';
import { buildApp, type AppDependencies } from './http/app.ts';
import { checkHttpLimits } from './http/http-server.ts';
import { instrumentDecisions } from './observability/instrumented-port.ts';
import { EdgeMetrics, watchStoreBackgroundWork, watchStoreHosts } from './observability/metrics.ts';
import { ManualClock, systemClock, type Clock } from './service/clock.ts';
import type { LicensePort } from './service/license-port.ts';
import type { Logger } from './service/logger.ts';
import { keepRulesVersions } from './service/rules-versions.ts';
import type { EventStore, OwnershipFence } from './store/event-store.ts';
import { openEventStore } from './store/open-store.ts';
import { describesHosts } from './store/cassandra/host-view.ts';
import { MetricsHistory, serviceReader } from './dashboard/metrics-history.ts';
import { debugReaderOf, startArchiveSweeper } from './store/read-purpose.ts';

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
  // Logging goes through the app's logger, which exists only once the app is built; the
  // callbacks run long after that (until then, their lines are dropped).
  let app: FastifyInstance | undefined = undefined;
  const log: Logger = {
    info: (fields, message) => app?.log.info(fields, message),
    warn: (fields, message) => app?.log.warn(fields, message),
    error: (fields, message) => app?.log.error(fields, message),
  };
  const store =
    options.store ??
    (await openEventStore(config.service, {
      // A failed cold copy is counted (event_store_background_total) and redone by the archiver:
      // a line each would flood the log while the cold tier is down. The archiver's own failures are few.
      onBackgroundError: (what, memberId, error) => {
        if (what !== 'cold copy') log.warn({ memberId, err: error }, `event store: ${what} failed; retried later`);
      },
    }));
  const clock: Clock = config.service.clock === 'manual' ? new ManualClock(options.manualClockStart ?? Date.now()) : systemClock;
  const rules = new RulesSource(config.rules);
  let accepting = true;

  const stopRememberingRules = await keepRulesVersions(store, rules, clock, log);
  // A store in tiers archives sealed generations; its sweeper finishes what crashes or an
  // unreachable cold tier left (docs/storage.md#the-archiver). One per process, here.
  if (config.service.store === 'cassandra') startArchiveSweeper(store, config.service.cassandra.archive);
  requireClusterPrerequisites(config);
  const clusterSettings = config.service.cluster;
  const clusterToken = config.service.admin.token;

  // In a cluster the actors fence every load with this node's view, and the node hands members
  // off through the actors: the fence is read through `cluster`, set as soon as they exist.
  let cluster: ClusterMode | null = null;
  const ownership = (memberId: string): OwnershipFence => {
    if (!cluster) throw new AppError('NOT_READY', 'this node has not joined its cluster yet; retry');
    return cluster.node.fenceFor(memberId);
  };
  const members = await startActors(config, { store, rules, clock, log, ...(clusterSettings ? { ownership } : {}) });
  if (clusterSettings && clusterToken !== null) {
    cluster = await openClusterMode({
      settings: clusterSettings,
      token: clusterToken,
      cassandra: config.service.cassandra,
      actors: members.actors,
      log,
      membership: options.membership,
    });
  }
  const node = cluster?.node ?? null;

  const edgeMetrics = new EdgeMetrics(() => rules.current().version);
  watchStoreBackgroundWork(edgeMetrics.registry, store); // the main thread's store runs the sweeper
  watchStoreHosts(edgeMetrics.registry, store);
  const service = instrumentDecisions(members.actors, edgeMetrics);
  // Admin and debug: behind the token, on the edge app or (service.admin.port) on their own.
  const adminToken = config.service.admin.token;
  const separateAdmin = adminToken !== null && config.service.admin.port !== null;
  // The dashboard's charts over the last minutes; only read behind the token, so kept only with one.
  const history = adminToken === null ? null : new MetricsHistory(serviceReader(edgeMetrics, () => members.metrics()));
  history?.start();
  const appDependencies: AppDependencies = {
    service,
    clock,
    bodyLimitBytes: config.service.bodyLimitBytes,
    http: config.service.http,
    readiness: {
      ready: () => accepting && (node === null || node.started),
      describe: () => ({
        store: store.kind,
        rulesVersion: rules.current().version,
        workers: members.pool ? members.pool.workerIds.length : 0,
        ...(node?.started ? { node: node.nodeId, clusterEpoch: node.view.epoch } : {}),
      }),
    },
    logger: options.logger,
    // Debug reads by purpose: the archive first, not the real-time tier (docs/storage.md#reads-by-purpose).
    debug: { store: debugReaderOf(store), rules: () => rules.current(), now: () => clock.now() },
    metrics: { edge: edgeMetrics, exposition: async () => edgeMetrics.exposition(await members.metrics()) },
    admin: {
      token: adminToken,
      service: members.actors,
      rules,
      configPath: config.path,
      clock,
      describeStore: () => (describesHosts(store) ? store.describeStore() : { kind: store.kind, hosts: [] }),
      onRulesReload: (change) => app?.log.info(change, 'admin rules reload'),
    },
    rateLimit: config.service.rateLimit,
    dashboard: { history },
    ...(cluster ? { plugins: cluster.plugins } : {}),
  };
  app = buildApp({ ...appDependencies, surface: separateAdmin ? 'edge' : 'all' });
  const adminApp = separateAdmin ? buildApp({ ...appDependencies, surface: 'admin' }) : null;
  const built = app;

  const stopWatching =
    (options.watchRules ?? config.path !== null) && config.path !== null ? watchRulesFile(config.path, rules, config.service.rulesReloadIntervalMs, built.log) : () => {};

  return {
    app: built,
    adminApp,
    async listen() {
      const edge = await built.listen({ host: config.service.host, port: config.service.port });
      const admin = adminApp ? await adminApp.listen({ host: config.service.host, port: config.service.admin.port ?? 0 }) : null;
      // Joins once it can be reached: the other nodes forward to the edge address.
      await node?.start(edge);
      return { edge, admin };
    },
    service,
    pool: members.pool,
    store,
    rules,
    clock,
    cluster: node,
    async close() {
      accepting = false;
      stopWatching();
      history?.stop();
      stopRememberingRules();
      // Hand this node's members off while it can still forward, then stop following.
      await cluster?.leave();
      // Stops accepting connections and waits for in-flight requests.
      await Promise.all([built.close(), adminApp?.close()]);
      await members.close(); // queued commands finish; workers close their own stores
      await cluster?.close();
      await store.close();
    },
  };
}

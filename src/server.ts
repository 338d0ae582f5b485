/**
 * The composition root: from a validated config, open the store, wire the service and the
 * HTTP app, and watch the rules. `main.ts` adds listen() and signals; tests call this directly.
 */
import { availableParallelism } from 'node:os';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { ActorPool } from './actors/actor-pool.ts';
import type { Config } from './config/types.ts';
import { RulesSource, watchRulesFile } from './config/rules-source.ts';
import { buildApp } from './http/app.ts';
import type { LicensePort } from './http/license-port.ts';
import { ManualClock, systemClock, type Clock } from './service/clock.ts';
import { licenseServiceFromConfig, type LicenseService } from './service/license-service.ts';
import type { EventStore } from './store/event-store.ts';
import { openEventStore } from './store/open-store.ts';

export interface Server {
  app: FastifyInstance;
  /** What the routes call: the actor pool, or the in-process service when `actors.workers` is 0. */
  service: LicensePort;
  /** The actor pool, when the service runs on worker threads. */
  pool: ActorPool | null;
  store: EventStore;
  rules: RulesSource;
  clock: Clock;
  /** Stops taking requests, lets queued commands finish, then closes the store. */
  close(): Promise<void>;
}

export interface ServerOptions {
  logger?: FastifyServerOptions['logger'];
  /** Start time of a manual clock (defaults to the real time at start). */
  manualClockStart?: number;
  /** A store to use instead of the configured one (tests). */
  store?: EventStore;
  /** Watch the config file for rules edits (default: when the config came from a file). */
  watchRules?: boolean;
}

export async function createServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const store = options.store ?? (await openEventStore(config.service));
  const clock: Clock = config.service.clock === 'manual' ? new ManualClock(options.manualClockStart ?? Date.now()) : systemClock;
  const rules = new RulesSource(config.rules);
  let accepting = true;

  // Logging goes through the app's logger, which exists only once the app is built; the
  // callbacks run long after that.
  let app: FastifyInstance | undefined;
  const workers = config.service.actors.workers ?? availableParallelism();
  let pool: ActorPool | null = null;
  let inProcess: LicenseService | null = null;
  if (workers > 0) {
    pool = await ActorPool.start({
      config,
      clock,
      rules,
      onWorkerFailure: (workerId, reason) => app?.log.error({ workerId, reason }, 'worker failed; replacing it'),
    });
  } else {
    inProcess = licenseServiceFromConfig(config.service, {
      store,
      rules,
      clock,
      onSnapshotError: (memberId, error) =>
        app?.log.warn({ memberId, err: error }, 'snapshot failed; the member will replay more events on its next load'),
    });
  }
  const service: LicensePort = pool ?? (inProcess as LicenseService);
  app = buildApp({
    service,
    clock,
    bodyLimitBytes: config.service.bodyLimitBytes,
    readiness: {
      ready: () => accepting,
      describe: () => ({ store: store.kind, rulesVersion: rules.current().version, workers: pool ? pool.workerIds.length : 0 }),
    },
    logger: options.logger,
  });
  const built = app;

  const stopWatching =
    (options.watchRules ?? config.path !== null) && config.path !== null
      ? watchRulesFile(config.path, rules, config.service.rulesReloadIntervalMs, built.log)
      : () => {};

  return {
    app: built,
    service,
    pool,
    store,
    rules,
    clock,
    async close() {
      accepting = false;
      stopWatching();
      await built.close(); // stops accepting connections and waits for in-flight requests
      if (pool) await pool.close(); // each worker drains its mailboxes and closes its store
      if (inProcess) await inProcess.drain();
      await store.close();
    },
  };
}

/**
 * A node's members, started where `actors.workers` says: on that many worker threads (the actor
 * pool, default one per core), or in this thread (0: one LicenseService, its store instrumented
 * here). Either way the rest of the node sees MemberActors.
 */
import { availableParallelism } from 'node:os';
import type { Config } from '../config/types.ts';
import type { RulesSource } from '../config/rules-source.ts';
import { instrumentStore, ServiceMetrics, type MetricsJson } from '../observability/metrics.ts';
import type { Clock } from '../service/clock.ts';
import type { MemberActors } from '../service/license-port.ts';
import { DEGRADED_CHECK_LOG, licenseServiceFromConfig } from '../service/license-service.ts';
import type { Logger } from '../service/logger.ts';
import type { EventStore, OwnershipFence } from '../store/event-store.ts';
import { ActorPool } from './actor-pool.ts';

export interface StartedActors {
  actors: MemberActors;
  /** The worker pool, when the members live on worker threads. */
  pool: ActorPool | null;
  /** Every thread's service metrics (GET /metrics merges them). */
  metrics(): Promise<MetricsJson[]>;
  /** Lets queued commands finish; the workers also close their own stores. */
  close(): Promise<void>;
}

export interface ActorDependencies {
  /** The node's store: the in-process service's (each worker opens its own from the config). */
  store: EventStore;
  rules: RulesSource;
  clock: Clock;
  log: Logger;
  /** This node's fence for a member (cluster mode; see LicenseService's option). */
  ownership?: (memberId: string) => OwnershipFence | null;
}

export async function startActors(config: Config, deps: ActorDependencies): Promise<StartedActors> {
  const { rules, clock, log, ownership } = deps;
  const workers = config.service.actors.workers ?? availableParallelism();
  if (workers > 0) {
    const pool = await ActorPool.start({
      config,
      clock,
      rules,
      onWorkerFailure: (workerId, reason) => log.error({ workerId, reason }, 'worker failed; replacing it'),
      ...(ownership ? { ownership } : {}),
    });
    return { actors: pool, pool, metrics: () => pool.metrics(), close: () => pool.close() };
  }
  // Metrics read the service's stats when scraped, after the service exists.
  const metrics = new ServiceMetrics({ worker: 'main' }, () => service.stats());
  const service = licenseServiceFromConfig(config.service, {
    store: instrumentStore(deps.store, metrics),
    rules,
    clock,
    onSnapshotError: (memberId, error) => log.warn({ memberId, err: error }, 'snapshot failed; the member will replay more events on its next load'),
    onDegradedCheck: (memberId, error) => log.warn({ memberId, err: error }, DEGRADED_CHECK_LOG),
    ...(ownership ? { ownership } : {}),
  });
  return { actors: service, pool: null, metrics: async () => [await metrics.json()], close: () => service.drain() };
}

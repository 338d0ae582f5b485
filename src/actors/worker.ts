/**
 * A worker thread hosting member actors: its own store connection, its own LicenseService
 * (a mailbox per member, the members' aggregates in an LRU), driven by the main thread through
 * comlink. Members are routed here by the consistent hash ring, so no other worker holds them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { pino } from 'pino';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { RulesSource } from '../config/rules-source.ts';
import { ManualClock, systemClock } from '../service/clock.ts';
import { DEGRADED_CHECK_LOG, licenseServiceFromConfig } from '../service/license-service.ts';
import { GroupCommitStore, withGroupCommit } from '../store/group-commit.ts';
import { openEventStore } from '../store/open-store.ts';
import { instrumentStore, ServiceMetrics, watchStoreBackgroundWork, watchStoreHosts } from '../observability/metrics.ts';
import type { ActorBatch, ActorOperation, ActorReply, ActorRequest, ArgumentsOf, ResultOf, WorkerApi, WorkerInit } from './protocol.ts';
import type { OwnershipFence } from '../store/event-store.ts';
import { installErrorTransfer, serializeError } from './thread-errors.ts';
import { ERROR_CATALOG, isErrorCode } from '../errors/catalog.ts';

if (!parentPort) throw new Error('worker.ts runs only as a worker thread');
installErrorTransfer();

const { workerId, config, now } = workerData as WorkerInit;
// Structured logs like fastify's, tagged with the worker; request failures carry the request id.
const log = pino({ base: { worker: workerId }, level: process.env['LOG_LEVEL'] ?? 'info' });
// Metrics read the service's stats lazily: the service is built from the instrumented store.
const metrics = new ServiceMetrics({ worker: workerId }, () => service.stats(), { isolateHeap: true });
const openedStore = await openEventStore(config.service, {
  // Failed cold copies are counted (event_store_background_total) and redone by the archiver: a
  // line each would flood the log while the cold tier is down. The archiver's failures are few.
  onBackgroundError: (what, memberId, error) => {
    if (what !== 'cold copy') log.warn({ memberId, err: error }, `event store: ${what} failed; retried later`);
  },
});
watchStoreBackgroundWork(metrics.registry, openedStore);
watchStoreHosts(metrics.registry, openedStore);
const baseStore = instrumentStore(openedStore, metrics);
const store = config.service.actors.groupCommit ? withGroupCommit(baseStore) : baseStore;
// On a manual clock the main thread owns time: each batch carries its reading, which the worker
// takes as it is, backwards too (a member's events still never go back in time: see
// LicenseService, which stamps them no earlier than the member's newest event).
const clock = config.service.clock === 'manual' ? new ManualClock(now) : systemClock;
const rules = new RulesSource(config.rules);
const service = licenseServiceFromConfig(config.service, {
  store,
  rules,
  clock,
  onSnapshotError: (memberId, error) => log.warn({ memberId, err: error }, 'snapshot failed; the member will replay more events on its next load'),
  onDegradedCheck: (memberId, error) => log.warn({ memberId, err: error }, DEGRADED_CHECK_LOG),
});

/** Each operation runs as the service method of its name, with the fence passed last. */
type Runners = {
  [Op in ActorOperation]: (memberId: string, ...rest: [...ArgumentsOf<Op>, OwnershipFence | null]) => Promise<ResultOf<Op>>;
};
const runners: Runners = service;

/** Runs one request; loads use the fence the main thread routed it with (cluster), never a later one. */
function run<Op extends ActorOperation>(request: ActorRequest<Op>): Promise<ResultOf<Op>> {
  return runners[request.op](request.memberId, ...request.args, request.fence);
}

const api: WorkerApi = {
  ping: () => workerId,
  metrics: () => metrics.json(),
  async handle(batch: ActorBatch): Promise<ActorReply[]> {
    if (clock instanceof ManualClock) clock.set(batch.now);
    // All requests start now, in order (so one member's commands keep their order in its
    // mailbox); different members run concurrently.
    return Promise.all(
      batch.requests.map((request) =>
        run(request).then(
          (value): ActorReply => ({ ok: true, value }),
          (error: unknown): ActorReply => {
            const serialized = serializeError(error);
            if (!isErrorCode(serialized.code) || ERROR_CATALOG[serialized.code].status >= 500) {
              const correlationId = request.op === 'execute' ? request.args[0].correlationId : undefined;
              log.error({ memberId: request.memberId, op: request.op, correlationId, err: error }, 'request failed in worker');
            }
            return { ok: false, error: serialized };
          },
        ),
      ),
    );
  },
  setRules(next) {
    rules.replace(next);
  },
  memberIds: () => service.memberIds(),
  stats: () => ({
    workerId,
    ...service.stats(),
    groupCommit: store instanceof GroupCommitStore ? { ...store.counters } : null,
  }),
  async close() {
    await service.drain();
    await store.close();
  },
};

Comlink.expose(api, nodeEndpoint(parentPort));

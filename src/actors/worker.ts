/**
 * A worker thread hosting member actors: its own store connection, its own LicenseService
 * (a mailbox per member, the members' aggregates in an LRU), driven by the main thread through
 * comlink. Members are routed here by the consistent hash ring, so no other worker holds them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { RulesSource } from '../config/rules-source.ts';
import { ManualClock, systemClock } from '../service/clock.ts';
import { licenseServiceFromConfig } from '../service/license-service.ts';
import { GroupCommitStore, withGroupCommit } from '../store/group-commit.ts';
import { openEventStore } from '../store/open-store.ts';
import type { ActorBatch, ActorReply, ActorRequest, ActorValue, WorkerApi, WorkerInit } from './protocol.ts';
import { installErrorTransfer, serializeError } from './thread-errors.ts';

if (!parentPort) throw new Error('worker.ts runs only as a worker thread');
installErrorTransfer();

const { workerId, config, now } = workerData as WorkerInit;
const baseStore = await openEventStore(config.service);
const store = config.service.actors.groupCommit ? withGroupCommit(baseStore) : baseStore;
// On a manual clock the main thread owns time: each batch carries its reading.
const clock = config.service.clock === 'manual' ? new ManualClock(now) : systemClock;
const rules = new RulesSource(config.rules);
const service = licenseServiceFromConfig(config.service, {
  store,
  rules,
  clock,
  onSnapshotError: (memberId, error) =>
    console.warn(JSON.stringify({ level: 'warn', workerId, memberId, msg: 'snapshot failed', err: String(error) })),
});

function run(request: ActorRequest): Promise<ActorValue> {
  switch (request.op) {
    case 'execute':
      return service.execute(request.memberId, request.input);
    case 'check':
      return service.check(request.memberId, request.input);
    case 'licenses':
      return service.activeLicenses(request.memberId);
  }
}

const api: WorkerApi = {
  ping: () => workerId,
  async handle(batch: ActorBatch): Promise<ActorReply[]> {
    if (clock instanceof ManualClock) clock.set(Math.max(clock.now(), batch.now));
    // All requests start now, in order (so one member's commands keep their order in its
    // mailbox); different members run concurrently.
    return Promise.all(
      batch.requests.map((request) =>
        run(request).then(
          (value): ActorReply => ({ ok: true, value }),
          (error: unknown): ActorReply => ({ ok: false, error: serializeError(error) }),
        ),
      ),
    );
  },
  setRules(next) {
    rules.replace(next);
  },
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

/**
 * What the main thread and a worker thread say to each other. Requests travel in batches: one
 * message per worker per event-loop turn carrying every request of that turn, because one
 * message per request costs more in structured cloning and wake-ups than the lookup it carries.
 *
 * The operations are declared once, in ACTOR_OPERATIONS: one per member operation of the
 * service (MemberOperations), named as the service names it. The request and answer types are
 * derived from it and the service's signatures; the pool dispatches and the worker runs by it.
 */
import type { Rules } from '../domain/rules.ts';
import type { Config } from '../config/types.ts';
import type { ServiceStats } from '../service/license-service.ts';
import type { MemberOperations } from '../service/license-port.ts';
import type { SerializedError } from './thread-errors.ts';
import type { OwnershipFence } from '../store/event-store.ts';
import type { MetricsJson } from '../observability/metrics.ts';

interface OperationTraits {
  /** Reads and writes go in separate batches, so a quick read never waits for a slow write. */
  batch: 'reads' | 'writes';
  /**
   * Loads the member, or installs it (live migration), to write it with this node's ownership
   * fence: the request carries the fence the main thread routed it with. An eviction or an export
   * loads nothing: it runs exactly when the member is no longer this node's.
   */
  fenced: boolean;
}

export const ACTOR_OPERATIONS = {
  execute: { batch: 'writes', fenced: true },
  check: { batch: 'reads', fenced: true },
  activeLicenses: { batch: 'reads', fenced: true },
  snapshotNow: { batch: 'writes', fenced: true },
  evict: { batch: 'writes', fenced: false },
  warm: { batch: 'reads', fenced: true },
  export: { batch: 'writes', fenced: false },
  expectInstall: { batch: 'writes', fenced: false },
  install: { batch: 'writes', fenced: true },
} as const satisfies { readonly [Op in keyof MemberOperations]: OperationTraits };

export type ActorOperation = keyof typeof ACTOR_OPERATIONS;

/** An operation's arguments after the member id. */
export type ArgumentsOf<Op extends ActorOperation> = MemberOperations[Op] extends (memberId: string, ...rest: infer Rest) => Promise<unknown> ? Rest : never;
/** What an operation resolves with. */
export type ResultOf<Op extends ActorOperation> = Awaited<ReturnType<MemberOperations[Op]>>;

type Requests = {
  [Op in ActorOperation]: {
    op: Op;
    memberId: string;
    args: ArgumentsOf<Op>;
    /** The ownership fence the main thread routed this request with (cluster; null: single node, or an unfenced operation). */
    fence: OwnershipFence | null;
  };
};

export type ActorRequest<Op extends ActorOperation = ActorOperation> = Requests[Op];

export type ActorValue = ResultOf<ActorOperation>;

export type ActorReply = { ok: true; value: ActorValue } | { ok: false; error: SerializedError };

export interface ActorBatch {
  /** The main thread's clock reading when the batch left (used by workers on a manual clock). */
  now: number;
  requests: ActorRequest[];
}

export interface WorkerInit {
  workerId: string;
  config: Config;
  now: number;
}

export interface WorkerStats extends ServiceStats {
  workerId: string;
  groupCommit: { flushes: number; appends: number } | null;
}

export interface WorkerApi {
  ping(): string;
  /** This worker's metrics, merged by the main thread into GET /metrics. */
  metrics(): Promise<MetricsJson>;
  handle(batch: ActorBatch): Promise<ActorReply[]>;
  setRules(rules: Rules): void;
  stats(): WorkerStats;
  /** The ids of the members this worker holds in memory. */
  memberIds(): Promise<string[]>;
  /** Finishes every queued command and closes the store. */
  close(): Promise<void>;
}

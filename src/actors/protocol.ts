/**
 * What the main thread and a worker thread say to each other. Requests travel in batches: one
 * message per worker per event-loop turn carrying every request of that turn, because one
 * message per request costs more in structured cloning and wake-ups than the lookup it carries.
 */
import type { LicenseState } from '../domain/aggregates/license.ts';
import type { Rules } from '../domain/rules.ts';
import type { Config } from '../config/types.ts';
import type { CheckInput, CheckResult, CommandInput, CommandResult, ServiceStats, SnapshotResult } from '../service/license-service.ts';
import type { SerializedError } from './thread-errors.ts';
import type { OwnershipFence } from '../store/event-store.ts';
import type { MetricsJson } from '../observability/metrics.ts';

export type ActorRequest = (
  | { op: 'execute'; memberId: string; input: CommandInput }
  | { op: 'check'; memberId: string; input: CheckInput }
  | { op: 'licenses'; memberId: string }
  | { op: 'snapshot'; memberId: string }
  | { op: 'release'; memberId: string }
  | { op: 'warm'; memberId: string }
) & {
  /** The ownership fence the main thread routed this request with (cluster; null: single node). */
  fence?: OwnershipFence | null;
};

export type ActorValue = CommandResult | CheckResult | LicenseState[] | SnapshotResult | boolean;

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
  memberIds(): string[];
  /** Finishes every queued command and closes the store. */
  close(): Promise<void>;
}

/**
 * Counting a run: per operation, an HDR histogram of latencies (microseconds, 3 significant
 * digits: fixed memory however long the run, and percentiles that do not lie about the tail
 * the way averages or sampled arrays do), answers by status, and answers by error `code`.
 *
 * Outcome classes, because a refusal is an answer the service meant to give:
 *   ok        2xx
 *   refusals  409 (LICENSE_REFUSED, RENEWAL_REFUSED, ...): business decisions
 *   rejected  other 4xx (404 LICENSE_NOT_FOUND, 400, 429): the client's or the rate limit's
 *   errors    5xx and transport failures (no answer, timeout): what a load test hunts for
 */
import { build, type Histogram } from 'hdr-histogram-js';
import type { Operation } from './scenario.ts';

export interface LatencySummaryMs {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface OutcomeCounts {
  ok: number;
  refusals: number;
  rejected: number;
  errors: number;
}

export interface OperationReport extends OutcomeCounts {
  count: number;
  /** Answers per second over the run's elapsed time. */
  throughput: number;
  latencyMs: LatencySummaryMs;
  /** By HTTP status ("201", "409", ...); "transport" when no answer came. */
  statuses: Record<string, number>;
  /** By the answer's `code` (refusals included), or the transport error's code. */
  codes: Record<string, number>;
  /** Refusals by `code:reason` (LICENSE_REFUSED:YEARLY_TITLE_LIMIT, ...). */
  reasons: Record<string, number>;
  /** Requests the mix asked for as this operation but sent as an acquire (nothing to act on). */
  fellBackToAcquire: number;
}

export type Outcome = keyof OutcomeCounts;

export function outcomeOf(status: number): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 409) return 'refusals';
  if (status >= 400 && status < 500) return 'rejected';
  return 'errors'; // 5xx, 0 (transport), and anything unexpected (1xx/3xx)
}

function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/** One histogram and counters; `merge` builds the all-operations total. */
export class OperationStats {
  readonly histogram: Histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
  count = 0;
  readonly outcomes: OutcomeCounts = { ok: 0, refusals: 0, rejected: 0, errors: 0 };
  // Keyed by what the service answered (codes, reasons): no prototype to find a key on.
  readonly statuses = Object.create(null) as Record<string, number>;
  readonly codes = Object.create(null) as Record<string, number>;
  readonly reasons = Object.create(null) as Record<string, number>;
  fellBackToAcquire = 0;
  // The histogram rounds to its precision; the exact max keeps "max" honest and caps percentiles.
  private maxMicros = 0;
  private sumMicros = 0;

  record(latencyMicros: number, status: number, code: string | undefined, reason: string | undefined): void {
    const micros = Math.max(1, Math.round(latencyMicros));
    this.histogram.recordValue(micros);
    this.maxMicros = Math.max(this.maxMicros, micros);
    this.sumMicros += micros;
    this.count += 1;
    const outcome = outcomeOf(status);
    this.outcomes[outcome] += 1;
    bump(this.statuses, status === 0 ? 'transport' : String(status));
    if (code !== undefined) bump(this.codes, code);
    if (outcome === 'refusals' && code !== undefined && reason !== undefined) bump(this.reasons, `${code}:${reason}`);
  }

  merge(other: OperationStats): void {
    this.histogram.add(other.histogram);
    this.count += other.count;
    for (const key of Object.keys(this.outcomes) as Outcome[]) this.outcomes[key] += other.outcomes[key];
    for (const [k, v] of Object.entries(other.statuses)) bump(this.statuses, k, v);
    for (const [k, v] of Object.entries(other.codes)) bump(this.codes, k, v);
    for (const [k, v] of Object.entries(other.reasons)) bump(this.reasons, k, v);
    this.fellBackToAcquire += other.fellBackToAcquire;
    this.maxMicros = Math.max(this.maxMicros, other.maxMicros);
    this.sumMicros += other.sumMicros;
  }

  latency(): LatencySummaryMs {
    if (this.count === 0) return { mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    // Percentiles are non-decreasing by construction; capping at the exact max keeps p <= max.
    const at = (percentile: number): number => round3(Math.min(this.histogram.getValueAtPercentile(percentile), this.maxMicros) / 1000);
    return {
      mean: round3(this.sumMicros / this.count / 1000),
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: round3(this.maxMicros / 1000),
    };
  }

  report(elapsedSeconds: number): OperationReport {
    return {
      count: this.count,
      throughput: elapsedSeconds > 0 ? Math.round((this.count / elapsedSeconds) * 10) / 10 : 0,
      ...this.outcomes,
      latencyMs: this.latency(),
      statuses: sortKeys(this.statuses),
      codes: sortKeys(this.codes),
      reasons: sortKeys(this.reasons),
      fellBackToAcquire: this.fellBackToAcquire,
    };
  }

  /** Frees the histogram's buffers (they may live in WebAssembly memory in other setups). */
  destroy(): void {
    this.histogram.destroy();
  }
}

function sortKeys(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

export type PerOperation = Record<Operation, OperationStats>;

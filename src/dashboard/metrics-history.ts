/**
 * A short in-process history of the service's own metrics, for the dashboard's charts: every
 * `intervalMs` it reads the cumulative request counts and latency buckets per operation (the
 * same histogram /metrics exposes) and each worker's members in memory and mailbox depth, and
 * keeps the last `capacity` readings in a ring. Rates and p99 are computed from the differences
 * between consecutive readings when asked, so a reading costs a few array copies, never a
 * growing series. It holds only numbers and route patterns, never a member id.
 */
import type { EdgeMetrics, MetricsJson } from '../observability/metrics.ts';

/** Cumulative latency buckets of one operation: ascending upper bounds in seconds, +Inf last. */
export interface OperationReading {
  count: number;
  bounds: readonly number[];
  cumulative: readonly number[];
}

export interface WorkerReading {
  membersInMemory: number;
  mailboxDepth: number;
}

export interface Reading {
  at: number;
  /** By operation, "METHOD /route/:pattern". */
  operations: Map<string, OperationReading>;
  /** By worker id ("main" when the service runs in the main thread). */
  workers: Map<string, WorkerReading>;
  /** Event store operations completed since start, by operation, over every worker. */
  storeOperations: Map<string, number>;
  snapshotsTaken: number;
}

export interface HistoryPoint {
  at: string;
  operations: { operation: string; requestsPerSecond: number; p99Ms: number | null }[];
  workers: { worker: string; membersInMemory: number; mailboxDepth: number }[];
}

/** The counts since this node started, at the latest reading. */
export interface HistoryTotals {
  at: string;
  snapshotsTaken: number;
  storeOperations: { operation: string; count: number }[];
}

export interface HistoryAnswer {
  intervalMs: number;
  windowSeconds: number;
  points: HistoryPoint[];
  totals: HistoryTotals | null;
}

export interface HistoryOptions {
  intervalMs: number;
  /** Readings kept (the window is capacity × interval). */
  capacity: number;
  now?: () => number;
}

export const DEFAULT_HISTORY = { intervalMs: 5000, capacity: 121 } as const;
/** The shortest window an answer covers, and the longest a node keeps (its default settings). */
export const HISTORY_MIN_SECONDS = 10;
export const HISTORY_MAX_SECONDS = Math.floor(((DEFAULT_HISTORY.capacity - 1) * DEFAULT_HISTORY.intervalMs) / 1000);

export class MetricsHistory {
  readonly #read: () => Promise<Omit<Reading, 'at'>>;
  readonly #options: Required<HistoryOptions>;
  readonly #ring: Reading[] = [];
  #timer: NodeJS.Timeout | null = null;
  #reading = false;

  constructor(read: () => Promise<Omit<Reading, 'at'>>, options: HistoryOptions = DEFAULT_HISTORY) {
    this.#read = read;
    this.#options = { now: Date.now, ...options };
  }

  get intervalMs(): number {
    return this.#options.intervalMs;
  }

  /** The longest window an answer can cover. */
  get windowSeconds(): number {
    return Math.floor(((this.#options.capacity - 1) * this.#options.intervalMs) / 1000);
  }

  /** Starts sampling (first reading now); unref'd, so it never keeps the process alive. */
  start(): void {
    if (this.#timer) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.#options.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Takes one reading (skipped while the previous one is still being read: a slow worker). */
  async sample(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      const reading = { ...(await this.#read()), at: this.#options.now() };
      this.#ring.push(reading);
      if (this.#ring.length > this.#options.capacity) this.#ring.shift();
    } catch {
      // A reading that failed (a worker being replaced) is a gap in the charts, nothing more.
    } finally {
      this.#reading = false;
    }
  }

  /** The points of the last `seconds`: one per pair of consecutive readings. */
  points(seconds: number): HistoryAnswer {
    const since = this.#options.now() - seconds * 1000;
    const points: HistoryPoint[] = [];
    for (let i = 1; i < this.#ring.length; i++) {
      const before = this.#ring[i - 1];
      const after = this.#ring[i];
      if (!before || !after || after.at < since) continue;
      points.push(pointBetween(before, after));
    }
    const latest = this.#ring[this.#ring.length - 1];
    return { intervalMs: this.#options.intervalMs, windowSeconds: this.windowSeconds, points, totals: latest ? totalsOf(latest) : null };
  }
}

function totalsOf(reading: Reading): HistoryTotals {
  return {
    at: new Date(reading.at).toISOString(),
    snapshotsTaken: reading.snapshotsTaken,
    storeOperations: [...reading.storeOperations].map(([operation, count]) => ({ operation, count })).sort((a, b) => a.operation.localeCompare(b.operation)),
  };
}

function pointBetween(before: Reading, after: Reading): HistoryPoint {
  const seconds = Math.max((after.at - before.at) / 1000, 0.001);
  const operations: HistoryPoint['operations'] = [];
  for (const [operation, now] of after.operations) {
    const then = before.operations.get(operation);
    const count = now.count - (then?.count ?? 0);
    // A counter that went down was reset (a restart): no rate for that interval.
    if (count < 0) continue;
    const buckets = now.cumulative.map((value, i) => value - (then?.cumulative[i] ?? 0));
    operations.push({ operation, requestsPerSecond: round(count / seconds), p99Ms: quantileMs(now.bounds, buckets, count, 0.99) });
  }
  operations.sort((a, b) => a.operation.localeCompare(b.operation));
  const workers = [...after.workers].map(([worker, w]) => ({ worker, ...w })).sort((a, b) => a.worker.localeCompare(b.worker));
  return { at: new Date(after.at).toISOString(), operations, workers };
}

/**
 * The q-quantile of the requests counted in `cumulative` (counts at or below each bound), by
 * linear interpolation inside its bucket, as Prometheus's histogram_quantile does. Past the last
 * finite bound it answers that bound (the histogram knows no more). Null without requests.
 */
export function quantileMs(bounds: readonly number[], cumulative: readonly number[], total: number, q: number): number | null {
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i] ?? Infinity;
    const count = cumulative[i] ?? total;
    if (count >= rank) {
      if (!Number.isFinite(bound)) return round(lowerBound * 1000);
      const inBucket = count - lowerCount;
      const fraction = inBucket > 0 ? (rank - lowerCount) / inBucket : 1;
      return round((lowerBound + (bound - lowerBound) * fraction) * 1000);
    }
    lowerBound = Number.isFinite(bound) ? bound : lowerBound;
    lowerCount = count;
  }
  return round(lowerBound * 1000);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The dashboard's own files are not operations worth charting (the page polls them). */
function charted(route: string): boolean {
  return !route.startsWith('/dashboard');
}

/**
 * Reads the service's metrics as the history keeps them: the main thread's request histogram
 * (`http_request_duration_seconds`) and, from every worker, `members_in_memory` and `mailbox_depth`.
 */
export function serviceReader(edge: EdgeMetrics, workers: () => Promise<MetricsJson[]>): () => Promise<Omit<Reading, 'at'>> {
  return async () => {
    const operations = new Map<string, { count: number; buckets: Map<number, number> }>();
    for (const value of (await edge.requestSeconds.get()).values) {
      const { method, route, le } = value.labels as Partial<Record<'method' | 'route' | 'le', string | number>>;
      if (typeof method !== 'string' || typeof route !== 'string' || !charted(route)) continue;
      const key = `${method} ${route}`;
      let entry = operations.get(key);
      if (!entry) operations.set(key, (entry = { count: 0, buckets: new Map() }));
      const name = (value as { metricName?: string }).metricName ?? '';
      if (name.endsWith('_count')) entry.count = value.value;
      else if (name.endsWith('_bucket') && le !== undefined) entry.buckets.set(le === '+Inf' ? Infinity : Number(le), value.value);
    }
    const readings = new Map<string, OperationReading>();
    for (const [key, { count, buckets }] of operations) {
      const bounds = [...buckets.keys()].sort((a, b) => a - b);
      readings.set(key, { count, bounds, cumulative: bounds.map((bound) => buckets.get(bound) ?? 0) });
    }
    const byWorker = new Map<string, WorkerReading>();
    const storeOperations = new Map<string, number>();
    let snapshotsTaken = 0;
    for (const metrics of await workers()) {
      for (const metric of metrics) {
        if (metric.name === 'snapshots_taken_total') for (const value of metric.values) snapshotsTaken += value.value;
        if (metric.name === 'event_store_operation_seconds') {
          for (const value of metric.values) {
            const operation = value.labels['operation'];
            if ((value as { metricName?: string }).metricName?.endsWith('_count') && typeof operation === 'string') {
              storeOperations.set(operation, (storeOperations.get(operation) ?? 0) + value.value);
            }
          }
        }
        const field = metric.name === 'members_in_memory' ? 'membersInMemory' : metric.name === 'mailbox_depth' ? 'mailboxDepth' : null;
        if (field === null) continue;
        for (const value of metric.values) {
          const worker = String(value.labels['worker'] ?? 'main');
          let entry = byWorker.get(worker);
          if (!entry) byWorker.set(worker, (entry = { membersInMemory: 0, mailboxDepth: 0 }));
          entry[field] = value.value;
        }
      }
    }
    return { operations: readings, workers: byWorker, storeOperations, snapshotsTaken };
  };
}

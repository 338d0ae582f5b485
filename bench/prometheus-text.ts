/** Reading the service's `/metrics` (Prometheus text exposition) into what the sustained bench samples. */

export interface Series {
  name: string;
  labels: Map<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels = new Map<string, string>();
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels.set(key as string, (value as string).replace(/\\(.)/g, '$1'));
    series.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return series;
}

/** One worker thread's cache and heap, as its gauges read at the scrape. */
export interface WorkerFigures {
  members: number;
  estimateBytes: number;
  heapUsedBytes: number;
  loads: number;
  cacheHits: number;
}

/** One scrape: per worker, and the service's cumulative counters (differences make the per-minute figures). */
export interface Scrape {
  /** Seconds since the load started (negative: before it). */
  atSeconds: number;
  /** Taken right after a full garbage collection in every worker. */
  afterGc: boolean;
  /** The machine's one-minute load average at the scrape (the machine is shared). */
  machineLoad: number;
  workers: Record<string, WorkerFigures>;
  /** Answers of the /v1 routes by HTTP status. */
  statuses: Record<string, number>;
  /** Decisions that ended in an error, by its code. */
  errorCodes: Record<string, number>;
  /** Event store operations over all workers: count and total seconds, by operation. */
  storeOps: Record<string, { count: number; seconds: number }>;
}

function bump(record: Record<string, number>, key: string, by: number): void {
  record[key] = (record[key] ?? 0) + by;
}

export function scrapeOf(text: string, atSeconds: number, afterGc: boolean, machineLoad: number): Scrape {
  const workers: Record<string, WorkerFigures> = Object.create(null) as Record<string, WorkerFigures>;
  const statuses: Record<string, number> = Object.create(null) as Record<string, number>;
  const errorCodes: Record<string, number> = Object.create(null) as Record<string, number>;
  const storeOps: Record<string, { count: number; seconds: number }> = Object.create(null) as Record<string, { count: number; seconds: number }>;
  const workerFields: Record<string, keyof WorkerFigures> = {
    members_in_memory: 'members',
    member_cache_bytes: 'estimateBytes',
    nodejs_heap_size_used_bytes: 'heapUsedBytes',
    member_loads_total: 'loads',
    member_cache_hits_total: 'cacheHits',
  };
  for (const series of parseExposition(text)) {
    const worker = series.labels.get('worker');
    const field = Object.hasOwn(workerFields, series.name) ? workerFields[series.name] : undefined;
    if (field !== undefined && worker !== undefined) {
      workers[worker] ??= { members: 0, estimateBytes: 0, heapUsedBytes: 0, loads: 0, cacheHits: 0 };
      workers[worker][field] = series.value;
    } else if (series.name === 'http_requests_total' && (series.labels.get('route') ?? '').startsWith('/v1/')) {
      bump(statuses, series.labels.get('status') ?? '?', series.value);
    } else if (series.name === 'decisions_total' && series.labels.get('outcome') === 'error') {
      bump(errorCodes, series.labels.get('reason') ?? '?', series.value);
    } else if (series.name === 'event_store_operation_seconds_count' || series.name === 'event_store_operation_seconds_sum') {
      const operation = series.labels.get('operation') ?? '?';
      storeOps[operation] ??= { count: 0, seconds: 0 };
      if (series.name.endsWith('_count')) storeOps[operation].count += series.value;
      else storeOps[operation].seconds += series.value;
    }
  }
  return { atSeconds, afterGc, machineLoad, workers, statuses, errorCodes, storeOps };
}

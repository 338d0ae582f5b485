/**
 * Prometheus metrics. Each thread (the main thread and every worker) keeps its own registry;
 * GET /metrics gathers the workers' metrics as JSON over the thread boundary and merges them
 * with the main thread's (prom-client's AggregatorRegistry), the worker id as a label.
 */
import { getHeapStatistics } from 'node:v8';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { describesHosts, type HostCount } from '../store/cassandra/host-view.ts';
import type { EventRecord, EventStore } from '../store/event-store.ts';
import type { ServiceStats } from '../service/license-service.ts';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** What a worker (or an in-process service) measures: its store and its members. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly storeSeconds: Histogram<'operation' | 'store'>;
  readonly snapshots: Counter<'store'>;

  /**
   * `isolateHeap`: also report this thread's V8 heap as `nodejs_heap_size_{used,total}_bytes`.
   * A worker thread is its own isolate, so the process-wide default metrics of the main thread
   * never show a worker's heap; with the worker label, each worker's heap is a series of its own.
   * Off where the service runs in the main thread, whose heap the default metrics already report.
   */
  constructor(labels: Record<string, string>, stats: () => ServiceStats, options: { isolateHeap?: boolean } = {}) {
    this.registry.setDefaultLabels(labels);
    const registers = [this.registry];
    if (options.isolateHeap) {
      new Gauge({
        name: 'nodejs_heap_size_used_bytes',
        help: 'Process heap size used from Node.js in bytes.',
        registers,
        collect() {
          this.set(getHeapStatistics().used_heap_size);
        },
      });
      new Gauge({
        name: 'nodejs_heap_size_total_bytes',
        help: 'Process heap size from Node.js in bytes.',
        registers,
        collect() {
          this.set(getHeapStatistics().total_heap_size);
        },
      });
    }
    this.storeSeconds = new Histogram({
      name: 'event_store_operation_seconds',
      help: 'Latency of event store operations',
      labelNames: ['operation', 'store'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.snapshots = new Counter({ name: 'snapshots_taken_total', help: 'Snapshots written', labelNames: ['store'], registers });
    new Gauge({
      name: 'members_in_memory',
      help: 'Members whose aggregates are held in memory',
      registers,
      collect() {
        this.set(stats().membersInMemory);
      },
    });
    new Gauge({
      name: 'member_cache_bytes',
      help: 'Approximate bytes of the members in memory',
      registers,
      collect() {
        this.set(stats().approximateBytes);
      },
    });
    new Gauge({
      name: 'mailbox_depth',
      help: 'Commands queued or running over all member mailboxes',
      registers,
      collect() {
        this.set(stats().mailboxDepth);
      },
    });
    // Counters fed from the service's own tallies at scrape time.
    let seenLoads = 0;
    let seenHits = 0;
    new Counter({
      name: 'member_loads_total',
      help: 'Members loaded from the store (cache misses)',
      registers,
      collect() {
        const { loads } = stats();
        this.inc(loads - seenLoads);
        seenLoads = loads;
      },
    });
    new Counter({
      name: 'member_cache_hits_total',
      help: 'Reads answered from members already in memory',
      registers,
      collect() {
        const { cacheHits } = stats();
        this.inc(cacheHits - seenHits);
        seenHits = cacheHits;
      },
    });
  }

  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON();
  }
}

/** Tallies of a store's background work, as a tiered store keeps them (src/store/cassandra/tiers/). */
type BackgroundTallies = Readonly<Record<string, number>>;

/**
 * Exports a store's background work as `event_store_background_total{work}` (for the tiered
 * store: cold copies failed or skipped, archive runs and failures, sweeps) when the store keeps
 * such tallies (`counters`); a store without background work (SQLite) adds nothing.
 */
export function watchStoreBackgroundWork(registry: Registry, store: EventStore): void {
  const tallies = (store as { counters?: unknown }).counters;
  if (typeof tallies !== 'object' || tallies === null) return;
  const counters = tallies as BackgroundTallies;
  const seen = new Map<string, number>();
  new Counter({
    name: 'event_store_background_total',
    help: 'Background work of the event store by kind (tiered store: copiesFailed, copiesSkipped, archiveRuns, archiveFailures, sweeps)',
    labelNames: ['work'],
    registers: [registry],
    collect() {
      for (const [work, value] of Object.entries(counters)) {
        this.inc({ work }, value - (seen.get(work) ?? 0));
        seen.set(work, value);
      }
    },
  });
}

/**
 * Per Cassandra host: the requests the driver completed there and how many failed
 * (`cassandra_host_requests_total`, `cassandra_host_errors_total`, labelled by the host's
 * `ip:port` from the driver's discovery). Nothing for a store without hosts (SQLite).
 */
export function watchStoreHosts(registry: Registry, store: EventStore): void {
  if (!describesHosts(store)) return;
  const counts = store.hostCounts;
  const series = (name: string, help: string, pick: (count: HostCount) => number): void => {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: ['host'],
      registers: [registry],
      collect() {
        for (const [host, count] of counts) {
          const value = pick(count);
          this.inc({ host }, value - (seen.get(host) ?? 0));
          seen.set(host, value);
        }
      },
    });
  };
  series('cassandra_host_requests_total', 'Requests the Cassandra driver completed, by the host that served them (errors included)', (count) => count.requests);
  series('cassandra_host_errors_total', 'Requests the Cassandra driver completed with an error, by the last host tried', (count) => count.errors);
}

type HistogramChild = ReturnType<Histogram['labels']>;

/**
 * A counter series counted in a plain number and added to its prom-client counter when scraped
 * (the counter's `collect`): counting a request allocates nothing, where prom-client validates
 * and hashes a label object on every `inc`.
 */
class Tally {
  pending = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
}

/** Hands every tally's count since the last scrape to `counter`. */
function flushTallies(counter: Counter<string>, tallies: readonly Tally[]): void {
  for (const tally of tallies) {
    if (tally.pending === 0) continue;
    counter.inc(tally.labels, tally.pending);
    tally.pending = 0;
  }
}

/** One route's series for one method: its latency, and its count per status. */
interface MethodSeries {
  seconds: HistogramChild;
  byStatus: Map<number, Tally>;
}

/**
 * The series of one route, each made once: a request adds to them without building a label
 * object. The latency goes to prom-client's histogram through a child made once (its buckets
 * have no public way in other than `observe`).
 */
export class RouteSeries {
  readonly #byMethod = new Map<string, MethodSeries>();

  constructor(
    private readonly metrics: EdgeMetrics,
    private readonly route: string,
  ) {}

  record(method: string, status: number, seconds: number): void {
    let series = this.#byMethod.get(method);
    if (series === undefined) {
      series = { seconds: this.metrics.requestSeconds.labels({ method, route: this.route }), byStatus: new Map() };
      this.#byMethod.set(method, series);
    }
    let count = series.byStatus.get(status);
    if (count === undefined) {
      count = this.metrics.requestTally({ method, route: this.route, status: String(status) });
      series.byStatus.set(status, count);
    }
    count.pending += 1;
    series.seconds.observe(seconds);
  }
}

/** What the main thread measures: HTTP, decisions, rules, the process. */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly requestSeconds: Histogram<'method' | 'route'>;
  readonly decisions: Counter<'command' | 'outcome' | 'reason'>;
  /** http_requests_total's and decisions_total's series, each made once (see Tally). */
  readonly #requestTallies: Tally[] = [];
  readonly #decisionTallies: Tally[] = [];
  /** decisions_total's tallies by command, outcome and reason. */
  readonly #decisionSeries = new Map<string, Map<string, Map<string, Tally>>>();

  constructor(rulesVersion: () => string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const requestTallies = this.#requestTallies;
    const decisionTallies = this.#decisionTallies;
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
      collect() {
        flushTallies(this, requestTallies);
      },
    });
    this.requestSeconds = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.decisions = new Counter({
      name: 'decisions_total',
      help: 'Decisions by command and outcome (done, refused with its reason, or error with its code)',
      labelNames: ['command', 'outcome', 'reason'],
      registers,
      collect() {
        flushTallies(this, decisionTallies);
      },
    });
    new Gauge({
      name: 'rules_info',
      help: 'The rules version in force (value 1)',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        this.set({ version: rulesVersion() }, 1);
      },
    });
  }

  /** Counts one decision in `decisions_total`. */
  countDecision(command: string, outcome: string, reason: string): void {
    let byOutcome = this.#decisionSeries.get(command);
    if (byOutcome === undefined) this.#decisionSeries.set(command, (byOutcome = new Map<string, Map<string, Tally>>()));
    let byReason = byOutcome.get(outcome);
    if (byReason === undefined) byOutcome.set(outcome, (byReason = new Map<string, Tally>()));
    let tally = byReason.get(reason);
    if (tally === undefined) {
      tally = new Tally({ command, outcome, reason });
      this.#decisionTallies.push(tally);
      byReason.set(reason, tally);
    }
    tally.pending += 1;
  }

  /** A new series of http_requests_total (RouteSeries keeps it). */
  requestTally(labels: { method: string; route: string; status: string }): Tally {
    const tally = new Tally(labels);
    this.#requestTallies.push(tally);
    return tally;
  }

  /** The exposition text of the main thread's metrics merged with the workers'. */
  async exposition(workers: MetricsJson[]): Promise<{ contentType: string; text: string }> {
    const merged = AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...workers]);
    return { contentType: merged.contentType, text: await merged.metrics() };
  }
}

/**
 * An EventStore that times every operation returning a promise into
 * `event_store_operation_seconds{operation}` (and counts snapshots). A proxy, so operations
 * added to the store contract later are timed without touching this file.
 */
export function instrumentStore<S extends EventStore>(store: S, metrics: ServiceMetrics): S {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close' || property === 'constructor') return value;
      const operation = String(property);
      if (operation === 'readGeneration') {
        return async function* timedRead(...args: unknown[]): AsyncIterable<EventRecord> {
          const stop = metrics.storeSeconds.startTimer({ operation, store: target.kind });
          try {
            yield* (value as (...a: unknown[]) => AsyncIterable<EventRecord>).apply(target, args);
          } finally {
            stop();
          }
        };
      }
      return (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        const stop = metrics.storeSeconds.startTimer({ operation, store: target.kind });
        return result.then(
          (outcome: unknown) => {
            stop();
            if (operation === 'writeSnapshot') metrics.snapshots.inc({ store: target.kind });
            return outcome;
          },
          (error: unknown) => {
            stop();
            throw error;
          },
        );
      };
    },
  });
}

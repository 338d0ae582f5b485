/**
 * The load loop: `concurrency` workers, each sending one request at a time, round-robin over
 * the targets' keep-alive pools. A closed loop (a new request when one ends) rather than a
 * fixed arrival rate: it finds the throughput the targets sustain at that concurrency, and
 * cannot pile up unbounded work when they slow down.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { randomSeed, seededRandom } from './random.ts';
import { applyOverrides, loadScenarioFile, OPERATIONS, parseScenario, type Operation, type Scenario, type ScenarioOverrides } from './scenario.ts';
import { OperationStats, outcomeOf, type OperationReport } from './stats.ts';
import { parseTargets } from './targets.ts';
import { Workload, type PlannedRequest } from './workload.ts';

export interface LoadOptions {
  /** A scenario object (validated here) or the path of a scenario JSON file. */
  scenario: Scenario | Record<string, unknown> | string;
  /** Base URLs of the nodes; loopback only (TargetRefusedError otherwise). */
  targets: readonly string[];
  overrides?: ScenarioOverrides;
  /** Write the report as JSON here (directories are created). */
  out?: string;
  /** One line a second: true for stderr, or a stream; off by default (tests, benchmarks). */
  progress?: boolean | NodeJS.WritableStream;
  /** Stops issuing requests; those in flight finish and are counted. */
  signal?: AbortSignal;
  /** GET /healthz on every target before the run (default true): a dead target fails fast. */
  preflight?: boolean;
}

export type StopReason = 'maxRequests' | 'duration' | 'aborted';

export interface ProgressSample {
  elapsedSeconds: number;
  requests: number;
  /** Answers per second over the last interval. */
  throughput: number;
  errors: number;
  refusals: number;
  inFlight: number;
}

export interface LoadReport {
  tool: 'license-accounting-load';
  formatVersion: 1;
  /** The scenario as run: overrides applied, defaults and the seed filled in. */
  scenario: Scenario & { seed: number };
  targets: string[];
  /** Prefix of every requestId this run sent (unique per run, even with a fixed seed). */
  runId: string;
  startedAt: string;
  finishedAt: string;
  elapsedSeconds: number;
  stopReason: StopReason;
  total: OperationReport;
  operations: Record<Operation, OperationReport>;
  /** Requests sent to each target. */
  perTarget: Record<string, number>;
  /** Licenses the generator believed active at the end. */
  knownLicensesAtEnd: number;
  timeline: ProgressSample[];
  /** Where the JSON went, when `out` was given. */
  outPath?: string;
}

export class TargetUnreachableError extends Error {
  override name = 'TargetUnreachableError';
}

interface Answered {
  status: number;
  body: unknown;
  code: string | undefined;
  reason: string | undefined;
}

function resolveScenario(input: LoadOptions['scenario'], overrides: ScenarioOverrides): Scenario {
  const scenario = typeof input === 'string' ? loadScenarioFile(input) : parseScenario(input);
  return applyOverrides(scenario, overrides);
}

async function send(pool: Pool, planned: PlannedRequest, timeoutMs: number): Promise<Answered> {
  try {
    const res = await pool.request({
      method: planned.method,
      path: planned.path,
      headers: planned.body === undefined ? {} : { 'content-type': 'application/json' },
      body: planned.body ?? null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    // Always drain the body: an unread body keeps the keep-alive connection busy.
    const text = await res.body.text();
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const fields = (typeof body === 'object' && body !== null ? body : {}) as { code?: unknown; reason?: unknown };
    const code = res.statusCode >= 400 ? (typeof fields.code === 'string' ? fields.code : `HTTP_${res.statusCode}`) : undefined;
    return { status: res.statusCode, body, code, reason: typeof fields.reason === 'string' ? fields.reason : undefined };
  } catch (error) {
    // No answer: count it by the transport's own code (UND_ERR_HEADERS_TIMEOUT, ECONNRESET, ...).
    const code = (error as { code?: unknown }).code;
    return { status: 0, body: null, code: typeof code === 'string' ? code : (error as Error).name || 'TRANSPORT_ERROR', reason: undefined };
  }
}

async function preflight(pools: Map<string, Pool>, timeoutMs: number): Promise<void> {
  await Promise.all(
    [...pools].map(async ([origin, pool]) => {
      try {
        const res = await pool.request({ method: 'GET', path: '/healthz', headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`GET /healthz answered ${res.statusCode}`);
      } catch (error) {
        throw new TargetUnreachableError(`target ${origin} is not answering: ${(error as Error).message}`);
      }
    }),
  );
}

export function writeReport(report: LoadReport, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** Runs one load test to its first bound (count, time, or the signal) and reports it. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  // Refuse bad targets and scenarios before opening a single connection.
  const targets = parseTargets(options.targets);
  const resolved = resolveScenario(options.scenario, options.overrides ?? {});
  const scenario: Scenario & { seed: number } = { ...resolved, seed: resolved.seed ?? randomSeed() };
  const runId = `ld-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const workload = new Workload(scenario, seededRandom(scenario.seed), runId);
  const connections = scenario.connections ?? Math.ceil(scenario.concurrency / targets.length);
  const pools = new Map(targets.map((origin) => [origin, new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 })]));
  const poolList = [...pools.values()];
  const stats = Object.fromEntries(OPERATIONS.map((op) => [op, new OperationStats()])) as Record<Operation, OperationStats>;
  const perTarget: Record<string, number> = Object.fromEntries(targets.map((origin) => [origin, 0]));
  const progressStream = options.progress === true ? process.stderr : options.progress || null;
  const timeline: ProgressSample[] = [];

  try {
    if (options.preflight ?? true) await preflight(pools, Math.min(scenario.requestTimeoutMs, 5000));

    let issued = 0;
    let completed = 0;
    let errors = 0;
    let refusals = 0;
    let nextTarget = 0;
    let stopReason: StopReason | null = null;
    const startedAtMs = Date.now();
    const start = performance.now();
    const deadline = start + scenario.durationSeconds * 1000;
    const onAbort = (): void => {
      stopReason ??= 'aborted';
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    let lastSample = { at: start, completed: 0 };
    const sample = (): ProgressSample => {
      const now = performance.now();
      const point: ProgressSample = {
        elapsedSeconds: Math.round((now - start) / 100) / 10,
        requests: completed,
        throughput: now > lastSample.at ? Math.round(((completed - lastSample.completed) * 1000) / (now - lastSample.at)) : 0,
        errors,
        refusals,
        inFlight: issued - completed,
      };
      lastSample = { at: now, completed };
      return point;
    };
    const ticker = setInterval(() => {
      const point = sample();
      timeline.push(point);
      progressStream?.write(
        `[${scenario.name}] ${point.elapsedSeconds.toFixed(0).padStart(4)}s  requests ${point.requests}  ${point.throughput} req/s  errors ${point.errors}  refusals ${point.refusals}  in flight ${point.inFlight}\n`,
      );
    }, 1000);

    const worker = async (): Promise<void> => {
      for (;;) {
        // Both bounds are checked before a request is issued, so the count is exact and no
        // request starts after the deadline; requests in flight at the deadline still finish.
        if (stopReason !== null) return;
        if (issued >= scenario.maxRequests) {
          stopReason = 'maxRequests';
          return;
        }
        if (performance.now() >= deadline) {
          stopReason = 'duration';
          return;
        }
        issued += 1;
        const planned = workload.next();
        const targetIndex = nextTarget;
        nextTarget = (nextTarget + 1) % poolList.length;
        perTarget[targets[targetIndex] as string]! += 1;
        const sentAt = performance.now();
        const answer = await send(poolList[targetIndex] as Pool, planned, scenario.requestTimeoutMs);
        const micros = (performance.now() - sentAt) * 1000;
        completed += 1;
        stats[planned.op].record(micros, answer.status, answer.code, answer.reason);
        if (planned.fallbackFrom) stats[planned.fallbackFrom].fellBackToAcquire += 1;
        const outcome = outcomeOf(answer.status);
        if (outcome === 'errors') errors += 1;
        else if (outcome === 'refusals') refusals += 1;
        planned.settle({ status: answer.status, body: answer.body });
      }
    };

    try {
      await Promise.all(Array.from({ length: scenario.concurrency }, worker));
    } finally {
      clearInterval(ticker);
      options.signal?.removeEventListener('abort', onAbort);
    }
    const elapsedSeconds = (performance.now() - start) / 1000;
    if (timeline.length === 0 || (timeline.at(-1)?.requests ?? 0) !== completed) timeline.push(sample());

    const total = new OperationStats();
    for (const op of OPERATIONS) total.merge(stats[op]);
    const report: LoadReport = {
      tool: 'license-accounting-load',
      formatVersion: 1,
      scenario,
      targets,
      runId,
      startedAt: new Date(startedAtMs).toISOString(),
      finishedAt: new Date().toISOString(),
      elapsedSeconds: Math.round(elapsedSeconds * 1000) / 1000,
      stopReason: stopReason ?? 'duration',
      total: total.report(elapsedSeconds),
      operations: Object.fromEntries(OPERATIONS.map((op) => [op, stats[op].report(elapsedSeconds)])) as Record<Operation, OperationReport>,
      perTarget,
      knownLicensesAtEnd: workload.knownLicenses(),
      timeline,
    };
    total.destroy();
    if (options.out !== undefined) {
      writeReport({ ...report, outPath: options.out }, options.out);
      report.outPath = options.out;
    }
    return report;
  } finally {
    for (const op of OPERATIONS) stats[op].destroy();
    await Promise.all(poolList.map((pool) => pool.close()));
  }
}

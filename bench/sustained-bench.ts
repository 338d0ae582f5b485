/**
 * Sustained-load bench (issue 13): does throughput hold over a long mixed load, does the cache's
 * byte budget hold the members it promises, and is its byte estimate the heap it costs?
 *
 * Two child processes, both on loopback only:
 *   - the service, started the way `npm start` starts it (src/main.ts through tsx) with a config
 *     that extends config/default.json: SQLite in a temporary directory, `cache.maxBytes` of
 *     --cache-mib per worker, everything else the default (one worker per core, the per-member
 *     rate limit); plus --inspect on 127.0.0.1, used only to run a full GC in each worker before
 *     its heap is read (bench/inspector-gc.ts says why);
 *   - the project's load generator (`npm run load`: src/load/main.ts) with the scenario
 *     config/load/sustained.json (70% checks, 20% acquires, 10% releases, Zipf 1.0 over 20,000
 *     members, 16 in flight).
 * Before the load, each idle worker's heap after a full GC is the baseline. Every
 * --sample-seconds the service's /metrics is read (members held, the cache's estimate and the V8
 * heap per worker, loads and hits, answers by status, error codes, store latency); at each bucket
 * boundary (--bucket-seconds, a minute) after a full GC in every worker. Throughput per bucket
 * comes from the load generator's own one-second timeline. After the load ends: GC, a last read;
 * then, the service stopped, the hottest members (as many as the cache held) are loaded from its
 * file to show what their estimate is made of (bench/sustained-members.ts).
 * Results: bench/RESULTS.md, section "sustained" (bench/sustained-report.ts), and
 * bench/results/sustained.json.
 *
 * Bounded: the load stops at --minutes; the whole bench gives up at --minutes plus 5 minutes;
 * both children are stopped on exit, on Ctrl-C and on any failure.
 *
 * Run: npx tsx bench/sustained-bench.ts [--minutes 12] [--sample-seconds 10] [--bucket-seconds 60]
 *      [--cache-mib 16] [--scenario config/load/sustained.json] [--no-write] [--keep]
 * (--no-write: print the section instead of writing RESULTS.md, for short trial runs;
 *  --keep: keep the temporary directory with the database, the service's log and the load's report.)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LoadReport } from '../src/load/index.ts';
import { inspectorUrlIn, WorkerCollector } from './inspector-gc.ts';
import { scrapeOf, type Scrape } from './prometheus-text.ts';
import { memberBreakdown } from './sustained-members.ts';
import { sustainedMarkdown, type SustainedRun } from './sustained-report.ts';
import { machine, writeResultsSection } from './support.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MIB = 2 ** 20;

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '12' },
    'sample-seconds': { type: 'string', default: '10' },
    'bucket-seconds': { type: 'string', default: '60' },
    'cache-mib': { type: 'string', default: '16' },
    scenario: { type: 'string', default: 'config/load/sustained.json' },
    'no-write': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
function positive(name: keyof typeof flags): number {
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}
const DURATION_SECONDS = Math.round(positive('minutes') * 60);
const SAMPLE_SECONDS = positive('sample-seconds');
const BUCKET_SECONDS = positive('bucket-seconds');
const CACHE_BYTES = Math.round(positive('cache-mib') * MIB);
// The GC'd read closes a bucket, so a bucket is a whole number of samples.
if (!Number.isInteger(BUCKET_SECONDS / SAMPLE_SECONDS)) throw new Error('--bucket-seconds must be a multiple of --sample-seconds');
const SCENARIO = resolve(ROOT, flags.scenario);
const GIVE_UP_MS = (DURATION_SECONDS + 300) * 1000;

// ---- children: always stopped ----

const children = new Set<ChildProcess>();
const dir = mkdtempSync(join(tmpdir(), 'sustained-bench-'));

function stopChildren(signal: NodeJS.Signals): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}
process.on('exit', () => {
  stopChildren('SIGKILL');
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
});
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    process.stderr.write(`sustained: ${signal}, stopping the service and the load; nothing is written\n`);
    stopChildren('SIGTERM');
    setTimeout(() => process.exit(130), 2000).unref();
  });
}
const giveUp = setTimeout(() => {
  process.stderr.write(`sustained: still running after ${GIVE_UP_MS / 1000} s, giving up\n`);
  process.exit(1);
}, GIVE_UP_MS);

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((done) => child.once('exit', (code) => done(code)));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

// ---- the service ----

interface Service {
  child: ChildProcess;
  configPath: string;
  url: string;
  collector: WorkerCollector;
  logTail(): string;
}

async function startService(): Promise<Service> {
  const configPath = join(dir, 'config.json');
  const config = { extends: join(ROOT, 'config/default.json'), service: { host: '127.0.0.1', sqlite: { path: join(dir, 'bench.db') }, cache: { maxBytes: CACHE_BYTES } } };
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  const port = await freePort();
  const log = createWriteStream(join(dir, 'service.log'));
  let tail = '';
  const child = track(
    spawn(process.execPath, ['--inspect=127.0.0.1:0', '--import', 'tsx', 'src/main.ts', '--config', configPath], {
      cwd: ROOT,
      // warn: fastify's two info lines per request would cost the service more than some routes do.
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stderrText = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
  }
  const inspectorUrl = await new Promise<string>((done, fail) => {
    const onData = (chunk: Buffer): void => {
      stderrText += chunk.toString();
      const url = inspectorUrlIn(stderrText);
      if (url) {
        child.stderr?.off('data', onData);
        done(url);
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`the service exited with ${code} before it opened its inspector:\n${tail}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 200) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${tail}`);
    const healthy = await fetch(`${url}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (healthy) break;
    if (waited > 60_000) throw new Error(`the service did not answer /healthz within a minute:\n${tail}`);
    await sleep(200);
  }
  const collector = await WorkerCollector.connect(inspectorUrl);
  return { child, configPath, url, collector, logTail: () => tail };
}

async function scrape(service: Service, atSeconds: number, afterGc: boolean): Promise<Scrape> {
  if (afterGc) await service.collector.collectAll();
  const res = await fetch(`${service.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  return scrapeOf(await res.text(), atSeconds, afterGc, loadavg()[0] ?? 0);
}

/** Waits until every worker the metrics name has attached to the inspector. */
async function waitForWorkers(service: Service): Promise<number> {
  for (let waited = 0; waited < 20_000; waited += 200) {
    const workers = Object.keys((await scrape(service, 0, false)).workers).length;
    if (workers > 0 && service.collector.workers >= workers) return workers;
    await sleep(200);
  }
  throw new Error(`the workers did not attach to the inspector (${service.collector.workers} attached)`);
}

// ---- the load ----

interface Load {
  child: ChildProcess;
  /** performance.now() of the load's start, known from its first progress line. */
  started: Promise<number>;
  outPath: string;
  stdout(): string;
}

const PROGRESS = /^\[[^\]]*\]\s+(\d+)s\s+requests (\d+)/;

function startLoad(url: string): Load {
  const outPath = join(dir, 'load.json');
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'src/load/main.ts', '--scenario', SCENARIO, '--target', url, '--duration', String(DURATION_SECONDS), '--out', outPath], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const started = new Promise<number>((done, fail) => {
    let buffered = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const match = PROGRESS.exec(line);
        if (match) done(performance.now() - Number(match[1]) * 1000);
        else if (line.trim() !== '') process.stderr.write(`load: ${line}\n`);
      }
    });
    child.once('exit', (code) => fail(new Error(`the load generator exited with ${code} before its first progress line: ${stdout}`)));
  });
  return { child, started, outPath, stdout: () => stdout };
}

// ---- the run ----

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'config'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${commit} with uncommitted changes in src/ or config/` : commit;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const service = await startService();
  const workers = await waitForWorkers(service);
  process.stderr.write(`sustained: service at ${service.url}, ${workers} workers, cache ${CACHE_BYTES / MIB} MiB per worker; data in ${dir}\n`);
  // The idle baseline: no member loaded yet, after a full collection (twice: the first one can
  // free what finalizers of the start-up keep).
  await sleep(2000);
  await scrape(service, 0, true);
  const baseline = await scrape(service, 0, true);

  const load = startLoad(service.url);
  const loadExit = exited(load.child);
  const loadStart = await load.started;
  const loadAverageBefore = loadavg();
  const scrapes: Scrape[] = [];
  const everyBucket = Math.max(1, Math.round(BUCKET_SECONDS / SAMPLE_SECONDS));
  let done = false;
  void loadExit.then(() => (done = true));
  for (let tick = 1; !done; tick++) {
    const at = loadStart + tick * SAMPLE_SECONDS * 1000;
    await Promise.race([sleep(Math.max(0, at - performance.now())), loadExit]);
    if (done) break;
    try {
      const point = await scrape(service, (performance.now() - loadStart) / 1000, tick % everyBucket === 0);
      scrapes.push(point);
      const members = Object.values(point.workers).map((w) => w.members);
      const estimate = Object.values(point.workers).reduce((sum, w) => sum + w.estimateBytes, 0);
      const heap = Object.values(point.workers).reduce((sum, w) => sum + w.heapUsedBytes, 0);
      process.stderr.write(
        `sustained: ${point.atSeconds.toFixed(0)} s, members held ${members.join('/')}, estimate ${(estimate / MIB).toFixed(1)} MiB, worker heaps ${(heap / MIB).toFixed(1)} MiB${point.afterGc ? ' (after GC)' : ''}\n`,
      );
    } catch (error) {
      process.stderr.write(`sustained: a scrape failed: ${(error as Error).message}\n`);
    }
  }
  const loadCode = await loadExit;
  if (loadCode !== 0) throw new Error(`the load generator exited with ${loadCode}: ${load.stdout()}`);
  const loadAverageAfter = loadavg();
  const end = await scrape(service, (performance.now() - loadStart) / 1000, true);
  service.collector.close();
  service.child.kill('SIGTERM');
  const stopped = await Promise.race([exited(service.child), sleep(15_000).then(() => 'timeout' as const)]);
  if (stopped === 'timeout') service.child.kill('SIGKILL');

  const report = JSON.parse(readFileSync(load.outPath, 'utf8')) as LoadReport;
  // The service is stopped: its file is read here as a cache miss would read it.
  const held = Object.values(end.workers).reduce((sum, w) => sum + w.members, 0);
  const heldMembers = await memberBreakdown(service.configPath, report.scenario.members.idPrefix, held);
  const run: SustainedRun = {
    startedAt: startedAt.toISOString(),
    machine: machine(),
    code: gitDescription(),
    command: `npx tsx bench/sustained-bench.ts --minutes ${DURATION_SECONDS / 60} --sample-seconds ${SAMPLE_SECONDS} --bucket-seconds ${BUCKET_SECONDS} --cache-mib ${CACHE_BYTES / MIB}${flags.scenario === 'config/load/sustained.json' ? '' : ` --scenario ${flags.scenario}`}`,
    durationSeconds: DURATION_SECONDS,
    bucketSeconds: BUCKET_SECONDS,
    cacheBytesPerWorker: CACHE_BYTES,
    workers,
    loadAverage: { before: loadAverageBefore, after: loadAverageAfter },
    baseline,
    scrapes,
    end,
    heldMembers,
    load: report,
    loadText: load.stdout(),
  };
  const markdown = sustainedMarkdown(run);
  if (flags['no-write']) process.stdout.write(`${markdown}\n`);
  else {
    writeResultsSection('sustained', markdown, run);
    process.stderr.write('sustained: bench/RESULTS.md (section "sustained") and bench/results/sustained.json written\n');
  }
  clearTimeout(giveUp);
}

main().catch((error: unknown) => {
  if (!interrupted) process.stderr.write(`sustained: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
  stopChildren('SIGTERM');
  clearTimeout(giveUp);
});

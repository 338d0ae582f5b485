/**
 * The benchmark report (issue #7, part 3). In one run on this machine, the same workload against:
 *   checks  1. the actor pool (this product: createServer, Cassandra store, 2 worker threads,
 *              members preloaded with one check each), GET /v1/members/:id/check;
 *           2. a stateless baseline: a plain fastify route with the same schema that reads the
 *              member's year of events from Cassandra on every check (one paged query over its
 *              generation, CassandraEventStore.readGeneration), folds them with decodeEvent +
 *              applyEvent and decides with decideAcquire;
 *           3. the ceiling: a plain fastify route answering from a Map (as in actor-bench).
 *   writes  4. acquires through the actor pool over HTTP (POST /v1/members/:id/licenses, each a
 *              conditional append: a Paxos lightweight transaction);
 *           5. the ceiling: raw prepared cassandra-driver INSERTs of event-sized rows into a plain
 *              table in the same keyspace, at the same concurrency.
 * Each member of the check workload has a one-year history of `--events` events written through
 * CassandraEventStore.append (real encoded events, made by the domain's decider), never
 * snapshotted by this script. Each server runs in its own child process; the load comes from this
 * process over loopback (undici Pool), one measurement at a time. Writes bench/RESULTS.md
 * (section "report"), bench/results/report.json and bench/report.svg.
 * Run: npm run bench [-- --seconds 10 --warmup 2 --connections 32 --members 200 --workers 2]
 * Then the storage section (bench/storage-bench.ts, section "storage"), whose flags here are
 * --storage-members 2000 --storage-events 200 --storage-loads 200 --storage-years-members 100
 * --storage-years 5; --no-storage leaves it out. Then the acquire section (bench/acquire-bench.ts,
 * section "acquire": acquires vs raw conditional and plain inserts on private Paxos v1 and v2
 * nodes, its own defaults); --no-acquire leaves it out.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { cassandraContactPointsFrom, parseConfig } from '../src/config/load.ts';
import type { CassandraSettings } from '../src/store/cassandra/cassandra-event-store.ts';
import { checkAnswer, checkQuerystring, memberParams } from '../src/http/schemas.ts';
import { groupIntoAppends, memberHistory } from './histories.ts';
import { BENCH_DIR, fmt, machine, numericArg, summarize, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const value = numericArg(name, fallback, args);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const SECONDS = arg('seconds', 10);
const WARMUP = arg('warmup', 2);
const CONNECTIONS = Math.floor(arg('connections', 32));
const MEMBERS = Math.floor(arg('members', 200));
const EVENTS = Math.floor(arg('events', 200));
const WORKERS = Math.floor(arg('workers', 2));
const VERIFY_SAMPLE = 50;
const KEYSPACE = 'license_accounting_bench';
const DAY = 86_400_000;
const HERE = fileURLToPath(import.meta.url);
const RULES = UNLIMITED_RULES;

function cassandraSettings(): CassandraSettings {
  const config = parseConfig({ service: { store: 'cassandra', cassandra: { keyspace: KEYSPACE } }, rules: RULES }, null);
  return { ...config.service.cassandra, contactPoints: cassandraContactPointsFrom(process.env) ?? config.service.cassandra.contactPoints };
}

// ---- child processes: started, tracked and always stopped ----

interface ChildReply {
  port?: number;
  result?: unknown;
  error?: string;
}

const children = new Set<ChildProcess>();

function stopChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  children.delete(child);
}

function stopAll(): void {
  for (const child of [...children]) stopChild(child);
}

process.on('exit', stopAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    stopAll();
    process.exit(130);
  });
}

function startChild(mode: string, extra: string[] = []): Promise<{ child: ChildProcess; reply: ChildReply }> {
  // The parent's flags go along, so a child measures with the same --seconds, --warmup, etc.
  const child = fork(HERE, ['child', mode, ...extra, '--', ...args], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', (reply: ChildReply) => (reply.error ? reject(new Error(`${mode} child: ${reply.error}`)) : resolve({ child, reply })));
    child.once('exit', (code) => reject(new Error(`${mode} child exited with ${code} before it was ready`)));
  });
}

// ---- the load: closed loop over loopback, CONNECTIONS requests in flight ----

interface Measured {
  perSecond: number;
  latency: ReturnType<typeof summarize>;
  errors: number;
  firstError: string | null;
}

type Request = { method: 'GET' } | { method: 'POST'; body: string };

async function closedLoop(port: number, next: (worker: number, i: number) => { path: string; request: Request }, expectStatus: number): Promise<Measured> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  let latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const counters = new Array<number>(CONNECTIONS).fill(0); // per connection, across warm-up and measurement
  const run = async (seconds: number, record: boolean): Promise<void> => {
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, worker) => {
        while (performance.now() < until) {
          const i = counters[worker] ?? 0;
          counters[worker] = i + 1;
          const { path, request } = next(worker, i);
          const started = performance.now();
          try {
            const res = await pool.request({
              path,
              method: request.method,
              ...(request.method === 'POST' ? { body: request.body, headers: { 'content-type': 'application/json' } } : {}),
            });
            const text = await res.body.text();
            if (res.statusCode !== expectStatus) {
              errors += 1;
              firstError ??= `${res.statusCode} ${text.slice(0, 200)}`;
            }
          } catch (error) {
            errors += 1;
            firstError ??= String(error);
          }
          if (record) latencies.push(performance.now() - started);
        }
      }),
    );
  };
  await run(WARMUP, false); // JIT, connections, caches
  errors = 0;
  firstError = null;
  latencies = [];
  await run(SECONDS, true);
  await pool.close();
  return { perSecond: latencies.length / SECONDS, latency: summarize(latencies), errors, firstError };
}

async function getJson(pool: Pool, path: string): Promise<{ status: number; body: unknown }> {
  const res = await pool.request({ method: 'GET', path });
  return { status: res.statusCode, body: await res.body.json() };
}

async function inParallel<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

// ---- seeding: one-year histories through the store's append ----

async function seedHistories(memberIds: readonly string[], now: number): Promise<{ events: number; appends: number; ms: number; eventBytes: number }> {
  const { CassandraEventStore } = await import('../src/store/cassandra/cassandra-event-store.ts');
  const { encodeEvent } = await import('../src/store/codec/event-codec.ts');
  const { EMPTY_HEAD } = await import('../src/store/event-store.ts');

  const store = await CassandraEventStore.connect(cassandraSettings());
  const started = performance.now();
  let appends = 0;
  let eventBytes = 0;
  try {
    await inParallel(memberIds, 32, async (memberId) => {
      // The member's commands over the 364 days before `now` (bench/histories.ts).
      const commands = memberHistory(memberId, { events: EVENTS, days: 364, end: now, rules: RULES });
      let head = EMPTY_HEAD;
      // Whole commands per append, about 12 events each (under Cassandra's 5 KiB batch warning).
      for (const { rows } of groupIntoAppends(commands, encodeEvent)) {
        head = await store.append(memberId, head, rows);
        appends += 1;
        eventBytes += rows.reduce((sum, row) => sum + row.payload.length, 0);
      }
    });
  } finally {
    await store.close();
  }
  return { events: memberIds.length * EVENTS, appends, ms: performance.now() - started, eventBytes: eventBytes / (memberIds.length * EVENTS) };
}

// ---- the report ----

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadavg();
  const runId = randomUUID().slice(0, 6);
  const checkMembers = Array.from({ length: MEMBERS }, (_, i) => `rep-${runId}-m${i}`);
  const writeMembersPerConnection = 4;
  const writeMember = (worker: number, i: number): string => `rep-${runId}-w${worker}-${i % writeMembersPerConnection}`;
  const writeMembers = Array.from({ length: CONNECTIONS * writeMembersPerConnection }, (_, k) => writeMember(Math.floor(k / writeMembersPerConnection), k));
  const settings = cassandraSettings();
  const log = (message: string): void => console.log(`[bench +${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)}s] ${message}`);

  log(`seeding ${MEMBERS} members × ${EVENTS} events into ${KEYSPACE} at ${settings.contactPoints.join(', ')} (run ${runId})`);
  const seeded = await seedHistories(checkMembers, Date.now());
  log(`seeded ${seeded.events} events in ${seeded.appends} appends, ${fmt(seeded.ms / 1000)} s`);

  const checkPath = (memberId: string): string => `/v1/members/${memberId}/check?deviceId=device-0&titleId=title-new`;
  const checkLoad = (port: number): Promise<Measured> =>
    closedLoop(port, (worker, i) => ({ path: checkPath(checkMembers[(worker + i * CONNECTIONS) % MEMBERS] ?? ''), request: { method: 'GET' } }), 200);

  // 1. The ceiling: a Map.
  log('checks: ceiling (Map)');
  const ceiling = await startChild('ceiling', [runId]);
  const ceilingResult = await checkLoad(ceiling.reply.port ?? 0);
  stopChild(ceiling.child);

  // 2 and 3 up together: the actor pool preloads its members (one check each), and a sample of
  // answers (checks and active licenses) must be the same on both before anything is measured.
  log('checks: starting the stateless baseline and the actor pool');
  const stateless = await startChild('stateless');
  const actors = await startChild('actors', [String(WORKERS)]);
  const actorPort = actors.reply.port ?? 0;
  const statelessPort = stateless.reply.port ?? 0;
  const preloadStarted = performance.now();
  {
    const pool = new Pool(`http://127.0.0.1:${actorPort}`, { connections: 16 });
    await inParallel([...checkMembers, ...writeMembers], 16, async (memberId) => {
      const { status } = await getJson(pool, checkPath(memberId));
      if (status !== 200) throw new Error(`preload of ${memberId}: status ${status}`);
    });
    await pool.close();
  }
  const preloadMs = performance.now() - preloadStarted;
  log(`preloaded ${checkMembers.length + writeMembers.length} members into the actor pool in ${fmt(preloadMs / 1000)} s; verifying answers`);
  const verification = { checks: 0, licenseLists: 0, mismatches: [] as string[], activeLicensesPerMember: 0 };
  {
    const a = new Pool(`http://127.0.0.1:${actorPort}`, { connections: 4 });
    const s = new Pool(`http://127.0.0.1:${statelessPort}`, { connections: 4 });
    const sample = checkMembers.filter((_, i) => i % Math.max(1, Math.floor(MEMBERS / VERIFY_SAMPLE)) === 0).slice(0, VERIFY_SAMPLE);
    await inParallel(sample, 4, async (memberId) => {
      for (const query of ['deviceId=device-0&titleId=title-new', 'deviceId=device-9&titleId=title-1', `deviceId=device-2&titleId=title-3&plan=${RULES.defaults.plan}`]) {
        const path = `/v1/members/${memberId}/check?${query}`;
        const [x, y] = await Promise.all([getJson(a, path), getJson(s, path)]);
        verification.checks += 1;
        if (x.status !== 200 || !isDeepStrictEqual(x, y)) verification.mismatches.push(`${path}: actors ${JSON.stringify(x)} vs stateless ${JSON.stringify(y)}`);
      }
      const path = `/v1/members/${memberId}/licenses`;
      const [x, y] = await Promise.all([getJson(a, path), getJson(s, path)]);
      verification.licenseLists += 1;
      verification.activeLicensesPerMember = ((x.body as { licenses?: unknown[] }).licenses ?? []).length;
      if (x.status !== 200 || !isDeepStrictEqual(x, y)) verification.mismatches.push(`${path}: actors ${JSON.stringify(x)} vs stateless ${JSON.stringify(y)}`);
    });
    await Promise.all([a.close(), s.close()]);
  }
  if (verification.mismatches.length > 0) throw new Error(`answers differ:\n${verification.mismatches.slice(0, 5).join('\n')}`);
  log(`verified ${verification.checks} checks and ${verification.licenseLists} license lists: identical`);

  log('checks: stateless baseline (fold on every check)');
  const statelessResult = await checkLoad(statelessPort);
  stopChild(stateless.child);
  log('checks: actor pool');
  const actorResult = await checkLoad(actorPort);

  // 4. Writes: raw inserts (the ceiling), then acquires through the same actor pool.
  log('writes: raw prepared inserts');
  const raw = await startChild('raw-inserts', [String(CONNECTIONS)]);
  const rawResult = raw.reply.result as Measured & { rowBytes: number };
  stopChild(raw.child);
  log('writes: acquires through the actor pool');
  const acquireResult = await closedLoop(
    actorPort,
    (worker, i) => ({
      path: `/v1/members/${writeMember(worker, i)}/licenses`,
      request: { method: 'POST', body: JSON.stringify({ deviceId: `device-${worker % 3}`, titleId: `title-${worker}-${i}` }) },
    }),
    201,
  );
  stopChild(actors.child);
  const loadAfter = loadavg();

  const ratios = {
    actorToCeiling: actorResult.perSecond / ceilingResult.perSecond,
    actorToStateless: actorResult.perSecond / statelessResult.perSecond,
    statelessToCeiling: statelessResult.perSecond / ceilingResult.perSecond,
    acquiresToRaw: acquireResult.perSecond / rawResult.perSecond,
  };
  const targets = {
    actorToCeiling: { target: 0.85, met: ratios.actorToCeiling >= 0.85 },
    actorToStateless: { target: 20, met: ratios.actorToStateless >= 20 },
    acquiresToRaw: { target: 0.5, met: ratios.acquiresToRaw >= 0.5 },
  };
  const acquiresPerWriteMember = (acquireResult.perSecond * (SECONDS + WARMUP)) / writeMembers.length;
  const notes: string[] = [];
  notes.push(
    targets.actorToCeiling.met
      ? `Actor pool vs ceiling: met in this run (${fmt(ratios.actorToCeiling, 2)}); on this shared machine the ratio moves from run to run (actor-bench saw 0.55 to 0.84), so one run that meets it is not a guarantee.`
      : `Actor pool vs ceiling (${fmt(ratios.actorToCeiling, 2)} < 0.85): both servers are bound by their main thread (HTTP parsing and serialising); the actor path adds a ` +
          `structured-clone postMessage hop to a worker and back per batch (actor-bench's profile: about 8% of the main thread), and its 2 workers need CPU that this ` +
          `machine does not have spare: its 2 cores also run the load generator, Cassandra and, in this run, other engineers' tests (load average ${loadBefore[0]?.toFixed(1)} to ${loadAfter[0]?.toFixed(1)}). ` +
          `The design assumes cores for the actors beside the HTTP thread; actor-bench measured 0.55 to 0.84 on this machine across runs. Not tuned here.`,
  );
  notes.push(
    targets.actorToStateless.met
      ? `Actor pool vs stateless: met (${fmt(ratios.actorToStateless, 1)}×). The stateless route pays, per check, one Cassandra read of ${EVENTS} rows (p50 ${fmt(statelessResult.latency.p50, 0)} ms here, with Cassandra on the same busy CPU) plus decoding and folding them; the actor pool answers from memory.`
      : `Actor pool vs stateless (${fmt(ratios.actorToStateless, 1)}× < 20×): the stateless route's read of ${EVENTS} rows (p50 ${fmt(statelessResult.latency.p50, 0)} ms) and fold were not slow enough in this run to reach the target; the gap grows with the length of the histories (--events).`,
  );
  notes.push(
    targets.acquiresToRaw.met
      ? `Acquires vs raw inserts: met (${fmt(ratios.acquiresToRaw, 2)}).`
      : `Acquires vs raw inserts (${fmt(ratios.acquiresToRaw, 2)} < 0.5): an acquire's append is a conditional batch, a Paxos lightweight transaction (prepare/promise, read, ` +
          `propose/accept, commit: about 4 round trips between coordinator and replica, plus the commit-log writes) where a raw insert is 1; bench/store-bench.ts measured a ` +
          `conditional batch at about 3.9× the latency of the same batch unconditional on this machine. Here an acquire's p50 is ${fmt(acquireResult.latency.p50, 0)} ms against ` +
          `${fmt(rawResult.latency.p50, 1)} ms for a raw insert (${fmt(acquireResult.latency.p50 / rawResult.latency.p50, 1)}×), and with the same ${CONNECTIONS} requests in flight, throughput ` +
          `follows latency (Little's law: ${CONNECTIONS} in flight / mean ${fmt(acquireResult.latency.mean, 0)} ms ≈ ${fmt(CONNECTIONS / (acquireResult.latency.mean / 1000), 0)}/s). An acquire also writes 2-3 rows ` +
          `(LicenseAcquired, TitleDownloaded, DeviceRegistered the first time) and crosses HTTP and a worker; with ${fmt(acquiresPerWriteMember, 0)} acquires per write member no snapshot was due ` +
          `(every 200 events). The LWT is the store's concurrency control (it refuses a stale writer and, in a cluster, a fenced-off owner); it is kept, so on this store the target is not reachable by tuning the bench.`,
  );
  const DEFAULT_COMMAND = 'npm run bench -- --seconds 10 --warmup 2 --connections 32 --members 200 --workers 2';
  const command = `npm run bench -- --seconds ${SECONDS} --warmup ${WARMUP} --connections ${CONNECTIONS} --members ${MEMBERS} --workers ${WORKERS}${EVENTS !== 200 ? ` --events ${EVENTS}` : ''}`;
  const result = {
    date: startedAt.toISOString(),
    machine: machine(),
    node: process.version,
    cassandra: settings.contactPoints,
    keyspace: KEYSPACE,
    command,
    seconds: SECONDS,
    warmup: WARMUP,
    connections: CONNECTIONS,
    members: MEMBERS,
    eventsPerMember: EVENTS,
    workers: WORKERS,
    loadAverage: { before: loadBefore, after: loadAfter },
    seeded,
    preloadMs,
    verification: { ...verification, mismatches: verification.mismatches.length },
    checks: { ceiling: ceilingResult, actors: actorResult, stateless: statelessResult },
    writes: { rawInserts: rawResult, acquires: acquireResult },
    ratios,
    targets,
    notes,
  };
  const row = (name: string, m: Measured, ratio: string): string =>
    `| ${name} | ${fmt(m.perSecond, 0)} | ${fmt(m.latency.p50, 2)} ms | ${fmt(m.latency.p99, 2)} ms | ${m.errors} | ${ratio} |`;
  const verdict = (met: boolean, measured: string): string => (met ? `**met** (${measured})` : `**not met** (${measured})`);
  const la = (l: number[]): string => l.map((v) => v.toFixed(2)).join(' / ');
  const markdown = `
## Report: actor pool vs stateless fold vs ceilings (issue #7)

Machine: ${machine()}; one local Cassandra node on the same machine (127.0.0.1; contact points ${settings.contactPoints.join(', ')}), keyspace \`${KEYSPACE}\`.
Command: \`npm run cassandra:start && ${command}\` ${command === DEFAULT_COMMAND ? '(`npm run bench` alone uses these defaults).' : ''}
Run of ${startedAt.toISOString()} (id ${runId}). Each server in its own child process; the load generator (this process: undici Pool,
${CONNECTIONS} connections, closed loop, loopback) and Cassandra share the same 2 cores. ${WARMUP} s warm-up, then ${SECONDS} s measured per row.
Load average (1/5/15 min) before the run ${la(loadBefore)}, after ${la(loadAfter)}: other work was running on this machine, so only the
ratios between rows of this run mean anything.

Workload: ${MEMBERS} members, each with a one-year history of ${EVENTS} events (acquire, playback, release over 3 devices and 50 titles,
made by the domain's decider and written through \`CassandraEventStore.append\`, ${seeded.appends} appends in ${fmt(seeded.ms / 1000)} s; the seeding writes no snapshot;
${verification.activeLicensesPerMember} licenses left active), rules \`${RULES.version}\` (no limits, so every check is allowed), \`rateLimit\` off.
Checks go round-robin over the members: \`GET /v1/members/:id/check?deviceId=device-0&titleId=title-new\`.
Answers verified before measuring: ${verification.checks} checks and ${verification.licenseLists} active-license lists of ${verification.licenseLists} sampled members
were identical (status and JSON) on the actor pool and the stateless baseline.

### Checks over HTTP

| Server | Checks/s | p50 | p99 | Errors | Ratio |
| --- | --- | --- | --- | --- | --- |
${row('Ceiling: fastify route answering from a Map (same schema)', ceilingResult, '1.00 of the ceiling')}
${row(`Actor pool: createServer, Cassandra store, ${WORKERS} worker threads, members in memory`, actorResult, `${fmt(ratios.actorToCeiling, 2)} of the ceiling, ${fmt(ratios.actorToStateless, 1)}× stateless`)}
${row(`Stateless: fastify route reading the member's ${EVENTS} events from Cassandra per check, fold + decideAcquire`, statelessResult, `${fmt(ratios.statelessToCeiling, 3)} of the ceiling`)}

The actor pool preloaded the ${MEMBERS} check members and ${writeMembers.length} write members (one check each) in ${fmt(preloadMs / 1000)} s before measuring (its snapshot thresholds
are the defaults: it may snapshot a member when it loads it; the stateless route reads generation 0, where all ${EVENTS} events stay).

### Writes

| What | Per second | p50 | p99 | Errors | Ratio |
| --- | --- | --- | --- | --- | --- |
${row(`Ceiling: raw prepared INSERT of one event-sized row (${fmt(rawResult.rowBytes, 0)} B of text) into a plain table, ${CONNECTIONS} in flight`, rawResult, '1.00')}
${row(`Acquires through the actor pool over HTTP (POST /v1/members/:id/licenses, ${writeMembers.length} members, distinct titles), ${CONNECTIONS} in flight`, acquireResult, `${fmt(ratios.acquiresToRaw, 2)} of raw inserts`)}

### Targets (this run)

| Target | Measured | Verdict |
| --- | --- | --- |
| Checks through the actor pool ≥ 0.85 of the ceiling | ${fmt(ratios.actorToCeiling, 2)} | ${verdict(targets.actorToCeiling.met, `${fmt(actorResult.perSecond, 0)} vs ${fmt(ceilingResult.perSecond, 0)} checks/s`)} |
| Checks through the actor pool ≥ 20× the stateless baseline (${EVENTS}-event histories) | ${fmt(ratios.actorToStateless, 1)}× | ${verdict(targets.actorToStateless.met, `${fmt(actorResult.perSecond, 0)} vs ${fmt(statelessResult.perSecond, 0)} checks/s`)} |
| Acquires ≥ 0.5 of raw inserts | ${fmt(ratios.acquiresToRaw, 2)} | ${verdict(targets.acquiresToRaw.met, `${fmt(acquireResult.perSecond, 0)} vs ${fmt(rawResult.perSecond, 0)} writes/s`)} |

### Why, where a target is not met

${notes.join('\n\n')}

![throughput per variant](report.svg)
`;
  writeResultsSection('report', markdown, result);
  writeFileSync(`${BENCH_DIR}report.svg`, chart(result));
  console.log(markdown);

  // The storage section (bench/storage-bench.ts) last, with its own flags: --storage-members, ...
  if (!args.includes('--no-storage')) {
    const { runStorageSection, storageOptions } = await import('./storage-bench.ts');
    await runStorageSection(storageOptions(args, 'storage-'), log);
  }
  // Then the acquire section (bench/acquire-bench.ts: its own private v1 and v2 Cassandra nodes, its
  // own defaults, about 4 minutes) in its own process; --no-acquire leaves it out.
  if (!args.includes('--no-acquire')) {
    log('acquire section (bench/acquire-bench.ts)');
    const acquire = fork(`${BENCH_DIR}acquire-bench.ts`, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve) => acquire.once('exit', resolve));
    if (code !== 0) throw new Error(`bench/acquire-bench.ts exited with ${code}`);
  }
}

// ---- the chart ----

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

interface ChartInput {
  date: string;
  machine: string;
  connections: number;
  eventsPerMember: number;
  workers: number;
  checks: { ceiling: Measured; actors: Measured; stateless: Measured };
  writes: { rawInserts: Measured; acquires: Measured };
  ratios: { actorToCeiling: number; actorToStateless: number; statelessToCeiling: number; acquiresToRaw: number };
}

/** Two panels of horizontal bars (checks, writes), each on its own linear scale, ratios labelled. */
export function chart(r: ChartInput): string {
  const width = 1060;
  const labelWidth = 300;
  const barMax = 420;
  const barHeight = 26;
  const gap = 12;
  const parts: string[] = [];
  let y = 20;
  const text = (x: number, ty: number, content: string, attrs = ''): void => {
    parts.push(`<text x="${x}" y="${ty}" ${attrs}>${escapeXml(content)}</text>`);
  };
  text(16, y + 8, 'License accounting: throughput per variant (higher is better)', 'font-size="18" font-weight="bold"');
  y += 30;
  text(16, y, `${r.date.slice(0, 10)} · ${r.machine} · ${r.connections} connections · ${r.workers} actor workers`, 'font-size="12" fill="#555"');
  y += 20;
  const panel = (title: string, unit: string, bars: { label: string; value: number; note: string; color: string }[]): void => {
    y += 18;
    text(16, y, title, 'font-size="15" font-weight="bold"');
    y += 12;
    const max = Math.max(...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)), 1);
    for (const bar of bars) {
      const w = Math.max(2, (Math.max(0, bar.value) / max) * barMax);
      text(labelWidth - 8, y + barHeight / 2 + 5, bar.label, 'font-size="13" text-anchor="end"');
      parts.push(`<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${bar.color}" rx="3"/>`);
      text(Math.round(labelWidth + w + 8), y + barHeight / 2 + 5, `${Math.round(bar.value).toLocaleString('en-US')} ${unit}${bar.note ? ` · ${bar.note}` : ''}`, 'font-size="12"');
      y += barHeight + gap;
    }
  };
  panel('Checks: GET /v1/members/:id/check', 'checks/s', [
    { label: 'Ceiling (Map in memory)', value: r.checks.ceiling.perSecond, note: '1.00', color: '#9e9e9e' },
    {
      label: `Actor pool (${r.workers} workers, members in memory)`,
      value: r.checks.actors.perSecond,
      note: `${fmt(r.ratios.actorToCeiling, 2)} of ceiling · ${fmt(r.ratios.actorToStateless, 1)}× stateless`,
      color: '#1f77b4',
    },
    {
      label: `Stateless (fold ${r.eventsPerMember} events per check)`,
      value: r.checks.stateless.perSecond,
      note: `${fmt(r.ratios.statelessToCeiling, 3)} of ceiling`,
      color: '#d62728',
    },
  ]);
  panel('Writes to Cassandra', 'writes/s', [
    { label: 'Ceiling (raw prepared INSERT, 1 row)', value: r.writes.rawInserts.perSecond, note: '1.00', color: '#9e9e9e' },
    { label: 'Acquires via actor pool (LWT append)', value: r.writes.acquires.perSecond, note: `${fmt(r.ratios.acquiresToRaw, 2)} of raw inserts`, color: '#1f77b4' },
  ]);
  y += 6;
  text(16, y, 'Each panel has its own linear scale. p50/p99 latencies and targets: bench/RESULTS.md (section "report").', 'font-size="11" fill="#555"');
  y += 14;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}

// ---- child processes ----

// The edge route's own schemas: the baselines validate and serialize exactly as it does.
const CHECK_SCHEMA = { querystring: checkQuerystring, response: { 200: checkAnswer } } as const;

async function child(mode: string, extra: string[]): Promise<void> {
  const send = (reply: ChildReply): void => void process.send?.(reply);
  // The parent going away (failure, Ctrl-C) takes every child with it.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  const listen = async (app: import('fastify').FastifyInstance): Promise<void> => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    send({ port: typeof address === 'object' && address ? address.port : 0 });
  };

  if (mode === 'ceiling') {
    const Fastify = (await import('fastify')).default;
    const runId = extra[0] ?? '';
    const members = new Map<string, { allowed: boolean; rulesVersion: string }>();
    for (let i = 0; i < MEMBERS; i++) members.set(`rep-${runId}-m${i}`, { allowed: true, rulesVersion: RULES.version });
    const app = Fastify({ ajv: { customOptions: { coerceTypes: false } } });
    app.get<{ Params: { memberId: string } }>('/v1/members/:memberId/check', { schema: { params: memberParams, ...CHECK_SCHEMA } }, async (request) => {
      return members.get(request.params.memberId) ?? { allowed: true, rulesVersion: RULES.version };
    });
    await listen(app);
    return;
  }

  if (mode === 'stateless') {
    const Fastify = (await import('fastify')).default;
    const { CassandraEventStore } = await import('../src/store/cassandra/cassandra-event-store.ts');
    const { decodeEvent, metadataOf } = await import('../src/store/codec/event-codec.ts');
    const { activeLicenses, applyEvent, initialMemberState } = await import('../src/domain/member/state.ts');
    const { decideAcquire } = await import('../src/domain/member/decide.ts');
    const { isRefusal } = await import('../src/domain/refusal.ts');
    const { planRules } = await import('../src/domain/rules.ts');
    const { iso } = await import('../src/domain/time.ts');
    const store = await CassandraEventStore.connect(cassandraSettings());
    // No state between requests: every answer reads and folds the member's events again. The
    // histories were written without snapshots, so generation 0 holds the member's whole year;
    // reading only it (one paged query, no snapshot lookup) is the cheapest stateless read.
    const fold = async (memberId: string): Promise<import('../src/domain/member/state.ts').MemberState> => {
      const state = initialMemberState();
      for await (const row of store.readGeneration(memberId, 0)) applyEvent(state, decodeEvent(row), metadataOf(row));
      return state;
    };
    const app = Fastify({ ajv: { customOptions: { coerceTypes: false } } });
    app.get<{ Params: { memberId: string }; Querystring: { deviceId: string; titleId: string; plan?: string } }>(
      '/v1/members/:memberId/check',
      { schema: { params: memberParams, ...CHECK_SCHEMA } },
      async (request, reply) => {
        const state = await fold(request.params.memberId);
        const { deviceId, titleId, plan } = request.query;
        if (planRules(RULES, plan) === undefined) return reply.code(400).send({ code: 'UNKNOWN_PLAN', message: `plan ${plan ?? ''}` });
        // As LicenseService.check: decided at max(clock, newest event), the same rules.
        const decision = decideAcquire({ type: 'AcquireLicense', now: Math.max(Date.now(), state.lastEventAt), licenseId: 'check', deviceId, titleId, plan }, state, RULES);
        if (isRefusal(decision)) return { allowed: false, reason: decision.reason, message: decision.message, details: decision.details, rulesVersion: RULES.version };
        return { allowed: true, rulesVersion: RULES.version };
      },
    );
    // For the answer check only (not measured): the same listing as the product's route.
    app.get<{ Params: { memberId: string } }>('/v1/members/:memberId/licenses', { schema: { params: memberParams } }, async (request) => {
      const state = await fold(request.params.memberId);
      const at = Date.now();
      const licenses = activeLicenses(state).sort((a, b) => a.acquiredAt - b.acquiredAt || (a.licenseId < b.licenseId ? -1 : 1));
      return {
        licenses: licenses.map((l) => ({
          licenseId: l.licenseId,
          deviceId: l.deviceId,
          titleId: l.titleId,
          studioId: l.studioId,
          acquiredAt: iso(l.acquiredAt),
          expiresAt: iso(l.expiresAt),
          renewals: l.renewals,
          expired: l.expiresAt <= at,
        })),
      };
    });
    await listen(app);
    return;
  }

  if (mode === 'actors') {
    const { createServer } = await import('../src/server.ts');
    const settings = cassandraSettings();
    const config = parseConfig(
      {
        service: {
          host: '127.0.0.1',
          port: 0,
          store: 'cassandra',
          cassandra: { ...settings, replication: { ...settings.replication } },
          // The product's defaults: it snapshots a member when a load replays 200 events or takes 50 ms.
          snapshot: { eventCount: 200, replayMs: 50 },
          actors: { workers: Number(extra[0] ?? 2) },
          // Per-member rate limiting would throttle a benchmark that sends many checks per member.
          rateLimit: null,
        },
        rules: RULES,
      },
      null,
    );
    const server = await createServer(config, { watchRules: false });
    process.removeAllListeners('SIGTERM');
    process.on('SIGTERM', () => {
      // Bounded graceful stop: workers drain and close their store connections.
      setTimeout(() => process.exit(0), 3000).unref();
      void server.close().finally(() => process.exit(0));
    });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const address = server.app.server.address();
    send({ port: typeof address === 'object' && address ? address.port : 0 });
    return;
  }

  if (mode === 'raw-inserts') {
    const cassandra = (await import('cassandra-driver')).default;
    const { encodeEvent } = await import('../src/store/codec/event-codec.ts');
    const settings = cassandraSettings();
    const concurrency = Number(extra[0] ?? CONNECTIONS);
    const client = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter, keyspace: settings.keyspace });
    await client.connect();
    try {
      await client.execute(
        'CREATE TABLE IF NOT EXISTS raw_event_inserts (id uuid PRIMARY KEY, member_id text, aggregate_name text, aggregate_id text, at bigint, type text, schema_version int, serializer text, payload text, rules_version text)',
      );
      // A real encoded LicenseAcquired row: the size of what an acquire writes per event.
      const now = Date.now();
      const row = encodeEvent(
        { type: 'LicenseAcquired', at: now, licenseId: randomUUID(), deviceId: 'device-1', titleId: 'title-1-1234', studioId: null, expiresAt: now + 30 * DAY },
        { rulesVersion: RULES.version },
      );
      const insert =
        'INSERT INTO raw_event_inserts (id, member_id, aggregate_name, aggregate_id, at, type, schema_version, serializer, payload, rules_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
      const options = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };
      const at = cassandra.types.Long.fromNumber(row.at);
      let latencies: number[] = [];
      let errors = 0;
      let firstError: string | null = null;
      const run = async (seconds: number): Promise<void> => {
        const until = performance.now() + seconds * 1000;
        await Promise.all(
          Array.from({ length: concurrency }, async (_, worker) => {
            while (performance.now() < until) {
              const started = performance.now();
              try {
                await client.execute(
                  insert,
                  [
                    cassandra.types.Uuid.random(),
                    `raw-${worker}`,
                    row.aggregateName,
                    row.aggregateId,
                    at,
                    row.type,
                    row.schemaVersion,
                    row.serializer,
                    row.payload,
                    row.rulesVersion,
                  ],
                  options,
                );
              } catch (error) {
                errors += 1;
                firstError ??= String(error);
              }
              latencies.push(performance.now() - started);
            }
          }),
        );
      };
      await run(WARMUP);
      latencies = [];
      errors = 0;
      firstError = null;
      await run(SECONDS);
      const rowBytes = row.aggregateName.length + row.aggregateId.length + row.type.length + row.serializer.length + row.payload.length + row.rulesVersion.length;
      send({ result: { perSecond: latencies.length / SECONDS, latency: summarize(latencies), errors, firstError, rowBytes } satisfies Measured & { rowBytes: number } });
    } finally {
      await client.shutdown();
    }
    process.exit(0);
  }
  throw new Error(`unknown child mode ${mode}`);
}

if (args[0] === 'child') {
  child(args[1] ?? '', args.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.send?.({ error: String(error) });
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      stopAll();
      process.exit(1);
    },
  );
}

/**
 * Actor runtime benchmark (issue: actor runtime). In one run on this machine:
 *   1. HTTP checks through the actor pool (2 worker threads, members in memory) versus the
 *      ceiling: a plain fastify route answering from a Map in the main thread, same schemas;
 *   2. acquires through the pool with group commit versus one append per command (SQLite);
 *   3. memory per cached member with 3 active licenses, and members per node in 2 GB.
 * Each server runs in its own child process; the load comes from this process over loopback
 * (undici Pool), one server at a time.
 * Run: npx tsx bench/actor-bench.ts [--seconds 10] [--connections 32] [--checks-only]
 * --checks-only: part 1 alone, printed and written to bench/results/checks.json (RESULTS.md untouched).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { BENCH_DIR, fmt, machine, numericArg, summarize, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => numericArg(name, fallback, args);
const SECONDS = arg('seconds', 10);
const CONNECTIONS = arg('connections', 32);
const WORKERS = arg('workers', 2);
const CHECKS_ONLY = args.includes('--checks-only');
// Stop other load first (a local Cassandra, say): this machine has 2 cores.
const MEMBERS = 1000;
const HERE = fileURLToPath(import.meta.url);

interface ChildReply {
  port?: number;
  result?: unknown;
}

function startChild(mode: string, extra: string[] = [], execArgv: string[] = []): Promise<{ child: ChildProcess; reply: ChildReply }> {
  const profile = process.env['BENCH_CPU_PROF'] === mode ? ['--cpu-prof', '--cpu-prof-dir=/tmp/bench-prof'] : [];
  const child = fork(HERE, ['child', mode, ...extra], { execArgv: [...execArgv, ...profile, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (reply: ChildReply) => resolve({ child, reply }));
    child.once('exit', (code) => reject(new Error(`${mode} child exited with ${code}`)));
  });
}

/**
 * CPU time of a process so far, in ms, from Linux's per-thread scheduler statistics: all of its
 * threads (main, workers, GC helpers), and its main thread alone. NaN where /proc is not there.
 * CPU per check varies much less than checks per second on a machine shared with other work.
 */
function cpuMs(pid: number | undefined): { process: number; main: number } {
  const ns = (task: string): number => Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return { process: tasks.reduce((sum, task) => sum + ns(task), 0) / 1e6, main: ns(String(pid)) / 1e6 };
  } catch {
    return { process: NaN, main: NaN };
  }
}

interface CheckLoad {
  perSecond: number;
  latency: ReturnType<typeof summarize>;
  errors: number;
  /** CPU per check while measured, in µs: the server's (all its threads, and its main thread), and this load generator's. */
  cpuPerCheck: { process: number; main: number; loadGenerator: number };
}

async function loadChecks(port: number, pid?: number): Promise<CheckLoad> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const run = async (seconds: number, record: boolean): Promise<void> => {
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async (_, worker) => {
        for (let i = worker; performance.now() < until; i += CONNECTIONS) {
          const started = performance.now();
          const res = await pool.request({ method: 'GET', path: `/v1/members/member-${i % MEMBERS}/check?deviceId=d1&titleId=t2` });
          await res.body.text();
          if (res.statusCode !== 200) errors += 1;
          if (record) latencies.push(performance.now() - started);
        }
      }),
    );
  };
  await run(2, false); // warm-up: JIT, connections
  const before = cpuMs(pid);
  const loadBefore = process.cpuUsage();
  await run(SECONDS, true);
  const load = process.cpuUsage(loadBefore);
  const after = cpuMs(pid);
  await pool.close();
  const perCheck = (ms: number): number => (ms * 1000) / Math.max(1, latencies.length);
  return {
    perSecond: latencies.length / SECONDS,
    latency: summarize(latencies),
    errors,
    cpuPerCheck: { process: perCheck(after.process - before.process), main: perCheck(after.main - before.main), loadGenerator: perCheck((load.user + load.system) / 1000) },
  };
}

async function main(): Promise<void> {
  // 1. Checks: ceiling, then the actor pool.
  const ceiling = await startChild('ceiling');
  const ceilingResult = await loadChecks(ceiling.reply.port ?? 0, ceiling.child.pid);
  ceiling.child.kill('SIGTERM');
  const actors = await startChild('actors', [String(WORKERS)]);
  const actorResult = await loadChecks(actors.reply.port ?? 0, actors.child.pid);
  actors.child.kill('SIGTERM');
  if (CHECKS_ONLY) {
    const ratio = actorResult.perSecond / ceilingResult.perSecond;
    const summary = { machine: machine(), node: process.version, seconds: SECONDS, connections: CONNECTIONS, workers: WORKERS, ceiling: ceilingResult, actors: actorResult, ratio };
    mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
    writeFileSync(join(BENCH_DIR, 'results', 'checks.json'), JSON.stringify(summary, null, 2));
    const cpu = (r: CheckLoad): string =>
      `CPU ${fmt(r.cpuPerCheck.process, 1)} µs/check, main thread ${fmt(r.cpuPerCheck.main, 1)}, load generator ${fmt(r.cpuPerCheck.loadGenerator, 1)}`;
    console.log(
      `ceiling ${fmt(ceilingResult.perSecond, 0)}/s (${cpu(ceilingResult)}), actors ${fmt(actorResult.perSecond, 0)}/s (p50 ${fmt(actorResult.latency.p50, 2)} ms, ${cpu(actorResult)}), ratio ${fmt(ratio, 2)}`,
    );
    return;
  }

  // 2. Acquires with and without group commit.
  const withGroup = (await startChild('acquires', ['true'])).reply.result as { perSecond: number; appendsPerFlush: number };
  const withoutGroup = (await startChild('acquires', ['false'])).reply.result as { perSecond: number; appendsPerFlush: number };

  // 3. Memory per member.
  const memory = (await startChild('memory', [], ['--expose-gc'])).reply.result as { members: number; bytesPerMember: number; estimatePerMember: number };
  const perNode = Math.floor((2 * 2 ** 30) / memory.bytesPerMember);

  const checkRatio = actorResult.perSecond / ceilingResult.perSecond;
  const markdown = `
## Actor runtime

Machine: ${machine()}. Command: \`npx tsx bench/actor-bench.ts --seconds ${SECONDS} --connections ${CONNECTIONS}\`.
One run; each server in its own process, the load generator (undici Pool, ${CONNECTIONS} connections, loopback) in another; ratios compare figures of this run only.

### Checks over HTTP (${MEMBERS} members in memory, ${SECONDS} s after a 2 s warm-up)

| Server | Checks/s | p50 | p99 | Errors | Ratio to ceiling |
| --- | --- | --- | --- | --- | --- |
| Ceiling: fastify route answering from a Map in the main thread | ${fmt(ceilingResult.perSecond, 0)} | ${fmt(ceilingResult.latency.p50, 2)} ms | ${fmt(ceilingResult.latency.p99, 2)} ms | ${ceilingResult.errors} | 1.00 |
| Actor pool: ${WORKERS} worker thread(s), one batch per worker per turn | ${fmt(actorResult.perSecond, 0)} | ${fmt(actorResult.latency.p50, 2)} ms | ${fmt(actorResult.latency.p99, 2)} ms | ${actorResult.errors} | ${fmt(checkRatio, 2)} |

Target: at least 0.85 of the ceiling. ${checkRatio >= 0.85 ? 'Met in this run.' : `Not met in this run (${fmt(checkRatio, 2)}).`} Across this session's runs on this shared
2-core machine the ratio ranged from 0.55 to 0.84, and the ceiling itself from 13,800 to 22,800 checks/s: the machine's
noise is larger than the gap. What the profiles say (\`BENCH_CPU_PROF=actors\`, one worker): the main thread is the
bottleneck of both servers (HTTP parsing and writing), and on the actor path it also spends about 8% of its time in
\`postMessage\` (structured clone of each batch and reply) while the worker is 78% idle; the load generator takes
most of the second core. Sending batches as JSON strings instead of cloned objects did not help (0.67 to 0.68).
What would close the gap: a third core (the design puts the actors on other cores than HTTP; on 2 cores with
the load generator on the same machine there is no spare core for them), larger batches under load (a flush
every 0.5 ms instead of every turn), or replies over a SharedArrayBuffer ring instead of a message per batch.

### Acquires through the pool (SQLite file, 2 workers, 64 commands in flight, ${SECONDS} s)

| Mode | Acquires/s | Appends per store write | Ratio |
| --- | --- | --- | --- |
| One append (one transaction, one fsync) per command | ${fmt(withoutGroup.perSecond, 0)} | ${fmt(withoutGroup.appendsPerFlush, 1)} | 1.00 |
| Group commit: a turn's appends in one transaction | ${fmt(withGroup.perSecond, 0)} | ${fmt(withGroup.appendsPerFlush, 1)} | ${fmt(withGroup.perSecond / withoutGroup.perSecond, 2)} |

### Memory

${memory.members} members with 3 active licenses each, loaded in one LicenseService: ${fmt(memory.bytesPerMember, 0)} bytes of V8 heap per member
(the cache's size estimate says ${fmt(memory.estimatePerMember, 0)}), so one node holds about ${perNode.toLocaleString('en-US')} such members in 2 GB of heap
(set \`cache.maxBytes\` per worker accordingly: workers × maxBytes ≤ the heap you give them).
`;
  writeResultsSection('actors', markdown, { ceiling: ceilingResult, actors: actorResult, withGroup, withoutGroup, memory, perNode });
  console.log(markdown);
}

// ---- child processes ----

async function child(mode: string, extra: string[]): Promise<void> {
  const send = (reply: ChildReply): void => void process.send?.(reply);
  // An exit on SIGTERM rather than death by it: BENCH_CPU_PROF's profile is written at exit.
  process.on('SIGTERM', () => process.exit(0));
  if (mode === 'ceiling') {
    const Fastify = (await import('fastify')).default;
    const { memberParams, id, plan } = await import('../src/http/schemas.ts');
    const members = new Map<string, { allowed: boolean }>();
    for (let i = 0; i < MEMBERS; i++) members.set(`member-${i}`, { allowed: true });
    const app = Fastify({ ajv: { customOptions: { coerceTypes: false } } });
    app.get<{ Params: { memberId: string } }>(
      '/v1/members/:memberId/check',
      {
        schema: {
          params: memberParams,
          querystring: { type: 'object', additionalProperties: false, required: ['deviceId', 'titleId'], properties: { deviceId: id, titleId: id, plan } },
          response: { 200: { type: 'object', properties: { allowed: { type: 'boolean' }, rulesVersion: { type: 'string' } } } },
        },
      },
      async (request) => ({ allowed: members.get(request.params.memberId)?.allowed ?? true, rulesVersion: 'bench-1' }),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    send({ port: typeof address === 'object' && address ? address.port : 0 });
    return;
  }
  const { createServer } = await import('../src/server.ts');
  const { parseConfig } = await import('../src/config/load.ts');
  const dir = mkdtempSync(join(tmpdir(), 'actor-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const rules = UNLIMITED_RULES;
  const serviceConfig = (workers: number, groupCommit: boolean): unknown => ({
    service: { sqlite: { path: join(dir, 'events.db') }, actors: { workers, groupCommit, maxPendingPerWorker: 100000 } },
    rules,
  });

  if (mode === 'actors') {
    const server = await createServer(parseConfig(serviceConfig(Number(extra[0] ?? 2), true), null));
    for (let i = 0; i < MEMBERS; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, k) => server.service.execute(`member-${i + k}`, { type: 'AcquireLicense', deviceId: 'd1', titleId: 't1' })));
    }
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const address = server.app.server.address();
    send({ port: typeof address === 'object' && address ? address.port : 0 });
    return;
  }
  if (mode === 'acquires') {
    const groupCommit = extra[0] === 'true';
    const server = await createServer(parseConfig(serviceConfig(2, groupCommit), null));
    const run = async (seconds: number): Promise<number> => {
      const until = performance.now() + seconds * 1000;
      let done = 0;
      await Promise.all(
        Array.from({ length: 64 }, async (_, worker) => {
          for (let i = 0; performance.now() < until; i++) {
            const result = await server.service.execute(`acq-${worker}-${i % 20}`, { type: 'AcquireLicense', deviceId: `d${i % 3}`, titleId: `t${i}` });
            if (result.outcome !== 'done') throw new Error('refused');
            done += 1;
          }
        }),
      );
      return done;
    };
    await run(1);
    const before = await server.pool?.stats();
    const done = await run(SECONDS);
    const after = await server.pool?.stats();
    const sum = (stats: typeof after, key: 'flushes' | 'appends'): number => (stats ?? []).reduce((s, w) => s + (w.groupCommit?.[key] ?? 0), 0);
    const flushes = sum(after, 'flushes') - sum(before, 'flushes');
    const appends = sum(after, 'appends') - sum(before, 'appends');
    send({ result: { perSecond: done / SECONDS, appendsPerFlush: groupCommit && flushes > 0 ? appends / flushes : 1 } });
    await server.close();
    process.exit(0);
  }
  if (mode === 'memory') {
    const { SqliteEventStore } = await import('../src/store/sqlite/sqlite-event-store.ts');
    const { MemberRepository } = await import('../src/service/member-repository.ts');
    const { LicenseService, approximateMemberBytes } = await import('../src/service/license-service.ts');
    const { RulesSource } = await import('../src/config/rules-source.ts');
    const { systemClock } = await import('../src/service/clock.ts');
    const config = parseConfig(serviceConfig(0, false), null);
    const store = new SqliteEventStore(':memory:');
    const repository = new MemberRepository(store, config.service.snapshot);
    const members = 20_000;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with --expose-gc');
    // Build the histories first, then measure a cold load of all of them into a fresh service. The
    // building service lives only in this function: only the fresh service's members may be on the
    // heap when measuring.
    const buildHistories = async (): Promise<void> => {
      const service = new LicenseService({
        repository,
        rules: new RulesSource(config.rules),
        clock: systemClock,
        maxMembersInMemory: 1_000_000,
        conflictRetries: 0,
      });
      for (let i = 0; i < members; i++) {
        for (let k = 0; k < 3; k++) await service.execute(`mem-${i}`, { type: 'AcquireLicense', deviceId: `d${k % 2}`, titleId: `title-${k}` });
      }
    };
    await buildHistories();
    const fresh = new LicenseService({ repository, rules: new RulesSource(config.rules), clock: systemClock, maxMembersInMemory: 1_000_000, conflictRetries: 0 });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < members; i++) await fresh.activeLicenses(`mem-${i}`);
    gc();
    const after = process.memoryUsage().heapUsed;
    if (fresh.stats().membersInMemory !== members) throw new Error('members were evicted during the measurement');
    const sample = await repository.load('mem-0');
    send({ result: { members, bytesPerMember: (after - before) / members, estimatePerMember: approximateMemberBytes(sample) } });
    process.exit(0);
  }
  throw new Error(`unknown child mode ${mode}`);
}

if (args[0] === 'child') {
  child(args[1] ?? '', args.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

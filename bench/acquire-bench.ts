/**
 * Acquires against the floor of their write, for Paxos v1 and v2 side by side (issue 14, items 1
 * and 4). The bench starts two private Cassandra nodes on free loopback ports, one with
 * `paxos_variant: v1` and one with v2 (same template, heap and schema otherwise), and measures on
 * each, at the same concurrency, with one child process per mode and node:
 *   raw-plain        raw prepared single-row INSERTs of one event-sized row (report.ts's ceiling);
 *   raw-conditional  the floor of a fenced append: one single-partition conditional batch that
 *                    moves a static head and owner (`IF head_position = ? AND owner_epoch = ? AND
 *                    owner_node = ?`, as the store's fenced append) and inserts the two rows an
 *                    acquire writes (LicenseAcquired and TitleDownloaded, real encoded events);
 *   acquire          AcquireLicense through LicenseService, MemberRepository and the store the
 *                    service opens (openEventStore: the tiered store, hot and cold keyspaces on the
 *                    node), single-node mode (no fence);
 *   acquire-fenced   the same with an ownership fence (cluster mode);
 *   acquire-fenced-hot  the same on the hot tier alone (CassandraEventStore, no background copy
 *                    to cold): what the tiered store's cold copy costs.
 * Each loop works on its own member (or partition), so there is no contention: the figures are
 * the cost of a round, not of conflicts. An unrecorded round warms both JVMs up; then every round
 * measures each mode on both nodes back to back (the nodes' order flips each round), so a drift of
 * the shared machine's load touches both variants alike; a rate is the median round. Both nodes
 * are stopped (and their run folders removed) at the end, also on failure. Writes
 * bench/RESULTS.md (section "acquire") and bench/results/acquire.json.
 * Run: npx tsx bench/acquire-bench.ts [--rounds 5] [--seconds 2] [--warmup 1] [--concurrency 32]
 *      [--heap-mb 1024] (or npm run acquire in bench/); about 4 minutes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CASSANDRA_DIR, CASSANDRA_VERSION, freePort, PAXOS_VARIANTS, startCassandra, stopCassandra, type PaxosVariant } from '../cluster/cassandra/node.ts';
import { parseConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/types.ts';
import { fmt, machine, numericArg, summarize, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => {
  const value = numericArg(name, fallback, args);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const SECONDS = arg('seconds', 2);
const WARMUP = arg('warmup', 1);
const ROUNDS = Math.floor(arg('rounds', 5));
const CONCURRENCY = Math.floor(arg('concurrency', 32));
const HEAP_MB = Math.floor(arg('heap-mb', 1024));
const KEYSPACE = 'license_acquire_bench';
const RAW_KEYSPACE = 'acquire_bench_raw';
const HERE = fileURLToPath(import.meta.url);
const DAY = 86_400_000;
const FENCE = { epoch: 1, node: 'bench-node' };
/** A whole run stays within this bound; past it every child and node is stopped. */
const RUN_LIMIT_MS = 6 * 60_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const MODES = ['raw-plain', 'raw-conditional', 'acquire', 'acquire-fenced', 'acquire-fenced-hot'] as const;
type Mode = (typeof MODES)[number];

interface Measured {
  perSecond: number;
  /** Every recorded latency (ms): the parent pools the rounds before taking percentiles. */
  latencies: number[];
  /** Operations over the whole call, warm-up included, and the child's CPU time over it (ms). */
  opsTotal: number;
  clientCpuMs: number;
  errors: number;
  firstError: string | null;
}

/** A mode on one node over the rounds: the median round's rate, percentiles of every round's latencies. */
interface Summary {
  perSecond: number;
  rounds: number[];
  latency: ReturnType<typeof summarize>;
  /** CPU time per operation (ms, median round): the Cassandra node's JVM and the client process. */
  cpuPerOp: { cassandra: number; client: number };
  errors: number;
  firstError: string | null;
}

type Operation = (worker: number, i: number) => Promise<void>;

/** The service's config on the private node: defaults, the product's snapshot policy. */
function benchConfig(): Config {
  const contactPoints = (process.env.CASSANDRA_CONTACT_POINTS ?? '').split(',').filter((p) => p !== '');
  if (contactPoints.length === 0) throw new Error('CASSANDRA_CONTACT_POINTS is not set (the parent sets it to its private node)');
  return parseConfig(
    { service: { store: 'cassandra', cassandra: { keyspace: KEYSPACE, contactPoints }, snapshot: { eventCount: 200, replayMs: 50 } }, rules: UNLIMITED_RULES },
    null,
  );
}

/** `CONCURRENCY` loops call `op` for `warmup` seconds (not recorded), then `seconds` (recorded). */
async function closedLoop(op: Operation, counters: number[], seconds: number, warmup: number): Promise<Measured> {
  let latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const cpu = process.cpuUsage();
  let opsTotal = 0;
  const run = async (forSeconds: number): Promise<void> => {
    const until = performance.now() + forSeconds * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, worker) => {
        while (performance.now() < until) {
          const i = counters[worker] ?? 0;
          counters[worker] = i + 1;
          const started = performance.now();
          try {
            await op(worker, i);
            opsTotal += 1;
            latencies.push(performance.now() - started);
          } catch (error) {
            errors += 1;
            firstError ??= String(error);
          }
        }
      }),
    );
  };
  await run(warmup);
  latencies = [];
  errors = 0;
  firstError = null;
  await run(seconds);
  const used = process.cpuUsage(cpu);
  return { perSecond: latencies.length / seconds, latencies, opsTotal, clientCpuMs: (used.user + used.system) / 1000, errors, firstError };
}

// ---- children: one per mode and node, against the node in CASSANDRA_CONTACT_POINTS ----

/** Sets the mode up (schema, connections, partitions) and returns its operation and how to close it. */
async function prepare(mode: Mode): Promise<{ op: Operation; close: () => Promise<void> }> {
  const config = benchConfig();
  const settings = config.service.cassandra;
  const runId = randomUUID().slice(0, 8);
  if (mode === 'raw-plain' || mode === 'raw-conditional') {
    const cassandra = (await import('cassandra-driver')).default;
    const { encodeEvent } = await import('../src/store/codec/event-codec.ts');
    const client = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
    await client.connect();
    const close = (): Promise<void> => client.shutdown();
    {
      await client.execute(`CREATE KEYSPACE IF NOT EXISTS ${RAW_KEYSPACE} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
      const consistencies = cassandra.types.consistencies;
      // The store's own consistency levels (config defaults): LOCAL_QUORUM writes, LOCAL_SERIAL conditions.
      const write = { prepare: true, consistency: consistencies.localQuorum, serialConsistency: consistencies.localSerial };
      const now = Date.now();
      const licenseId = randomUUID();
      const acquired = encodeEvent(
        { type: 'LicenseAcquired', at: now, licenseId, deviceId: 'phone-1', titleId: 'title-1-1234', studioId: null, expiresAt: now + 30 * DAY },
        { rulesVersion: 'bench-1' },
      );
      const downloaded = encodeEvent({ type: 'TitleDownloaded', at: now, titleId: 'title-1-1234', licenseId, deviceId: 'phone-1', via: 'acquire' }, { rulesVersion: 'bench-1' });
      const at = cassandra.types.Long.fromNumber(now);
      if (mode === 'raw-plain') {
        await client.execute(
          `CREATE TABLE IF NOT EXISTS ${RAW_KEYSPACE}.raw_plain (id uuid PRIMARY KEY, member_id text, aggregate_name text, aggregate_id text, at bigint, type text, schema_version int, serializer text, payload text, rules_version text)`,
        );
        const insert = `INSERT INTO ${RAW_KEYSPACE}.raw_plain (id, member_id, aggregate_name, aggregate_id, at, type, schema_version, serializer, payload, rules_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
        const r = acquired;
        return {
          close,
          op: async (worker) => {
            await client.execute(
              insert,
              [cassandra.types.Uuid.random(), `raw-${runId}-${worker}`, r.aggregateName, r.aggregateId, at, r.type, r.schemaVersion, r.serializer, r.payload, r.rulesVersion],
              write,
            );
          },
        };
      }
      await client.execute(
        `CREATE TABLE IF NOT EXISTS ${RAW_KEYSPACE}.raw_appends (member_id text, generation int, position int, head_position int static, owner_epoch int static, owner_node text static, ` +
          'aggregate_name text, aggregate_id text, at bigint, type text, schema_version int, serializer text, payload text, rules_version text, PRIMARY KEY ((member_id, generation), position))',
      );
      const open = `INSERT INTO ${RAW_KEYSPACE}.raw_appends (member_id, generation, head_position, owner_epoch, owner_node) VALUES (?, 0, 0, ?, ?) IF NOT EXISTS`;
      const advance = `UPDATE ${RAW_KEYSPACE}.raw_appends SET head_position = ?, owner_epoch = ?, owner_node = ? WHERE member_id = ? AND generation = 0 IF head_position = ? AND owner_epoch = ? AND owner_node = ?`;
      const row = `INSERT INTO ${RAW_KEYSPACE}.raw_appends (member_id, generation, position, aggregate_name, aggregate_id, at, type, schema_version, serializer, payload, rules_version) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
      const heads = new Array<number>(CONCURRENCY).fill(0);
      // Each loop's partition is opened before the clock starts (the store opens a generation once too).
      for (let worker = 0; worker < CONCURRENCY; worker++) await client.execute(open, [`cas-${runId}-${worker}`, FENCE.epoch, FENCE.node], write);
      const op: Operation = async (worker) => {
        const member = `cas-${runId}-${worker}`;
        const head = heads[worker] ?? 0;
        const rows = [acquired, downloaded].map((r, k) => ({
          query: row,
          params: [member, head + 1 + k, r.aggregateName, r.aggregateId, at, r.type, r.schemaVersion, r.serializer, r.payload, r.rulesVersion],
        }));
        const result = await client.batch([{ query: advance, params: [head + 2, FENCE.epoch, FENCE.node, member, head, FENCE.epoch, FENCE.node] }, ...rows], {
          ...write,
          logged: false,
        });
        if (result.first()?.['[applied]'] !== true) throw new Error(`conditional batch not applied at head ${head}`);
        heads[worker] = head + 2;
      };
      return { op, close };
    }
  }

  const { RulesSource } = await import('../src/config/rules-source.ts');
  const { ManualClock } = await import('../src/service/clock.ts');
  const { LicenseService } = await import('../src/service/license-service.ts');
  const { MemberRepository } = await import('../src/service/member-repository.ts');
  const { openEventStore } = await import('../src/store/open-store.ts');
  const { CassandraEventStore } = await import('../src/store/cassandra/cassandra-event-store.ts');
  const store = mode === 'acquire-fenced-hot' ? await CassandraEventStore.connect(settings) : await openEventStore(config.service);
  {
    const service = new LicenseService({
      repository: new MemberRepository(store, config.service.snapshot),
      rules: new RulesSource(UNLIMITED_RULES),
      clock: new ManualClock(Date.UTC(2026, 0, 1)),
      maxMembersInMemory: 100_000,
      conflictRetries: 3,
    });
    const fence = mode === 'acquire' ? null : FENCE;
    // One member per loop, loaded (and, fenced, claimed) during the first warm-up; distinct titles.
    const op: Operation = async (worker, i) => {
      const result = await service.execute(`acq-${runId}-${worker}`, { type: 'AcquireLicense', deviceId: 'phone-1', titleId: `title-${i}` }, fence);
      if (result.outcome !== 'done') throw new Error(`acquire refused: ${result.refusal.reason}`);
    };
    return { op, close: () => store.close() };
  }
}

/** A child: prepares its mode, says so, then measures whenever the parent asks, until told to close. */
async function childMain(mode: Mode): Promise<void> {
  const { op, close } = await prepare(mode);
  const counters = new Array<number>(CONCURRENCY).fill(0);
  process.on('message', (message: { measure?: { seconds: number; warmup: number }; close?: true }) => {
    if (message.measure) {
      const { seconds, warmup } = message.measure;
      void closedLoop(op, counters, seconds, warmup).then(
        (result) => process.send?.({ result }),
        (error: unknown) => process.send?.({ error: String(error) }),
      );
    } else if (message.close) {
      void close().finally(() => process.exit(0));
    }
  });
  process.send?.({ ready: true });
}

// ---- the parent: nodes, children, report ----

const children = new Set<ChildProcess>();
const nodes = PAXOS_VARIANTS.map((variant) => ({ variant, runDir: join(CASSANDRA_DIR, `.run-acquire-bench-${variant}`) }));

/** Stops every child and node, and removes the nodes' run folders (their data is of no further use). */
async function cleanUp(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(
    nodes.map(async (node) => {
      const stopped = await stopCassandra({ runDir: node.runDir }).then(
        () => true,
        () => false,
      );
      if (stopped) await rm(node.runDir, { recursive: true, force: true });
    }),
  );
}

interface ChildReply {
  ready?: true;
  result?: Measured;
  error?: string;
}

interface MeasuringChild {
  measure(seconds: number, warmup: number): Promise<Measured>;
  close(): void;
}

/** Forks the child of one mode on one node; resolves once it is set up. */
function startChild(mode: Mode, contactPoint: string): Promise<MeasuringChild> {
  const c = fork(HERE, ['child', mode, '--', ...args], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, CASSANDRA_CONTACT_POINTS: contactPoint },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(c);
  let exited: string | null = null;
  const next = (): Promise<ChildReply> =>
    new Promise((resolve, reject) => {
      if (exited !== null) return reject(new Error(exited));
      const onExit = (): void => reject(new Error(exited ?? `${mode} child exited`));
      c.once('exit', onExit);
      c.once('message', (reply: ChildReply) => {
        c.off('exit', onExit);
        if (reply.error !== undefined) reject(new Error(`${mode}: ${reply.error}`));
        else resolve(reply);
      });
    });
  c.once('exit', (code) => {
    exited = `${mode} child exited with ${code}`;
    children.delete(c);
  });
  const handle: MeasuringChild = {
    async measure(seconds, warmup) {
      const reply = next();
      c.send({ measure: { seconds, warmup } });
      const { result } = await reply;
      if (!result) throw new Error(`${mode}: no result`);
      return result;
    },
    close: () => void (c.connected && c.send({ close: true })),
  };
  return next().then(() => handle);
}

/** The variant the node itself reports (system_views.settings), so the table never names the wrong one. */
async function reportedVariant(contactPoint: string): Promise<string> {
  const cassandra = (await import('cassandra-driver')).default;
  const client = new cassandra.Client({ contactPoints: [contactPoint], localDataCenter: 'datacenter1' });
  try {
    await client.connect();
    const rs = await client.execute("SELECT value FROM system_views.settings WHERE name = 'paxos_variant'");
    return String(rs.first()?.['value'] ?? 'unknown');
  } finally {
    await client.shutdown();
  }
}

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (ms) the process has used so far, from /proc/<pid>/stat (utime + stime). */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

function gitRevision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} with uncommitted changes under src/` : head;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const watchdog = setTimeout(() => {
    console.error(`acquire-bench: over ${RUN_LIMIT_MS / 1000} s, stopping`);
    void cleanUp().finally(() => process.exit(1));
  }, RUN_LIMIT_MS);
  watchdog.unref();
  // The nodes are detached JVMs: Ctrl-C (or the report that started this bench stopping) must not leave them running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`acquire-bench: ${signal}, stopping the children and nodes`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  const loadBefore = loadavg()[0] ?? NaN;
  const log = (line: string): void => console.error(`[acquire-bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s] ${line}`);

  await Promise.all(nodes.map((node) => stopCassandra({ runDir: node.runDir })));
  const ports: { port: number; storagePort: number }[] = [];
  for (let k = 0; k < nodes.length; k++) ports.push({ port: await freePort(), storagePort: await freePort() });
  log(`starting ${nodes.length} private nodes (${nodes.map((n, k) => `${n.variant} on 127.0.0.1:${ports[k]?.port}`).join(', ')})`);
  const started = await Promise.all(
    nodes.map((node, k) => startCassandra({ runDir: node.runDir, fresh: true, ...ports[k], heapMb: HEAP_MB, paxosVariant: node.variant, jmxPort: false, timeoutMs: 180_000 })),
  );
  const reported = await Promise.all(started.map((s) => reportedVariant(s.contactPoint)));
  log(`starting ${MODES.length} children per node`);
  const handles = new Map<string, MeasuringChild>();
  await Promise.all(
    nodes.map(async (node, k) => {
      const contactPoint = started[k]?.contactPoint ?? '';
      // One at a time per node: the first acquire child of a node creates the service's keyspaces.
      for (const mode of MODES) handles.set(`${node.variant}/${mode}`, await startChild(mode, contactPoint));
    }),
  );
  const handle = (variant: PaxosVariant, mode: Mode): MeasuringChild => {
    const h = handles.get(`${variant}/${mode}`);
    if (!h) throw new Error(`no child for ${mode} on ${variant}`);
    return h;
  };
  // Round 0 warms up: a fresh JVM runs interpreted code for its first minute or so, and without it
  // the modes measured first (on a colder node) would look slower. It is not recorded. The order
  // of the two nodes flips every round, so neither always goes first.
  const samples = new Map<string, Measured[]>();
  const nodeCpu = new Map<string, number[]>();
  const pidOf = new Map(nodes.map((node, k) => [node.variant, started[k]?.pid ?? 0]));
  for (let round = 0; round <= ROUNDS; round++) {
    const order = round % 2 === 0 ? nodes : [...nodes].reverse();
    log(round === 0 ? 'round 0: warm-up, not recorded' : `round ${round} of ${ROUNDS}`);
    for (const mode of MODES) {
      for (const node of order) {
        const cpuBefore = cpuMsOf(pidOf.get(node.variant) ?? 0);
        const measured = await handle(node.variant, mode).measure(round === 0 ? 2 : SECONDS, WARMUP);
        const cassandraCpuPerOp = (cpuMsOf(pidOf.get(node.variant) ?? 0) - cpuBefore) / measured.opsTotal;
        if (round === 0) continue;
        nodeCpu.set(`${node.variant}/${mode}`, [...(nodeCpu.get(`${node.variant}/${mode}`) ?? []), cassandraCpuPerOp]);
        if (measured.errors > 0) log(`${mode} on ${node.variant}: ${measured.errors} errors, first: ${measured.firstError}`);
        samples.set(`${node.variant}/${mode}`, [...(samples.get(`${node.variant}/${mode}`) ?? []), measured]);
      }
    }
  }
  for (const h of handles.values()) h.close();
  const loadAfter = loadavg()[0] ?? NaN;
  await sleep(1000);
  await cleanUp();
  log('children and nodes stopped');

  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
  };
  const summaries = new Map<string, Summary>();
  for (const [key, runs] of samples) {
    summaries.set(key, {
      perSecond: median(runs.map((r) => r.perSecond)),
      rounds: runs.map((r) => Math.round(r.perSecond)),
      latency: summarize(runs.flatMap((r) => r.latencies)),
      cpuPerOp: { cassandra: median(nodeCpu.get(key) ?? []), client: median(runs.map((r) => r.clientCpuMs / r.opsTotal)) },
      errors: runs.reduce((n, r) => n + r.errors, 0),
      firstError: runs.find((r) => r.firstError !== null)?.firstError ?? null,
    });
  }
  const get = (variant: PaxosVariant, mode: Mode): Summary => {
    const m = summaries.get(`${variant}/${mode}`);
    if (!m) throw new Error(`no result for ${mode} on ${variant}`);
    return m;
  };
  const ratios: Record<string, Record<string, number>> = Object.fromEntries(
    PAXOS_VARIANTS.map((v) => {
      const raw = get(v, 'raw-plain').perSecond;
      const cas = get(v, 'raw-conditional').perSecond;
      return [
        v,
        {
          fencedToConditional: get(v, 'acquire-fenced').perSecond / cas,
          fencedToPlain: get(v, 'acquire-fenced').perSecond / raw,
          unfencedToConditional: get(v, 'acquire').perSecond / cas,
          unfencedToPlain: get(v, 'acquire').perSecond / raw,
          hotFencedToConditional: get(v, 'acquire-fenced-hot').perSecond / cas,
          conditionalToPlain: cas / raw,
        },
      ];
    }),
  );
  // v2 against v1 round by round: the two measurements of a round are back to back, under the same
  // load of the shared machine, so the median of these paired ratios is steadier than a ratio of medians.
  const pairedV2ToV1 = (mode: Mode): number => {
    const v1 = samples.get(`v1/${mode}`) ?? [];
    const v2 = samples.get(`v2/${mode}`) ?? [];
    return median(v1.map((a, round) => (v2[round]?.perSecond ?? NaN) / a.perSecond));
  };
  const v2ToV1 = Object.fromEntries(MODES.map((mode) => [mode, pairedV2ToV1(mode)])) as Record<Mode, number>;
  const v2Wins = v2ToV1['acquire-fenced'] > 1 && v2ToV1.acquire > 1;

  const label: Record<Mode, string> = {
    'raw-plain': 'Raw prepared INSERT, one event-sized row',
    'raw-conditional': 'Raw conditional batch, one partition: static head and owner `IF` + the 2 event rows of an acquire',
    acquire: 'Acquire through LicenseService + tiered store, no fence (single node)',
    'acquire-fenced': 'Acquire through LicenseService + tiered store, fenced (cluster mode)',
    'acquire-fenced-hot': 'Acquire, fenced, hot tier alone (CassandraEventStore, no cold copy)',
  };
  const cell = (m: Summary): string =>
    `${fmt(m.perSecond, 0)} /s (rounds ${m.rounds.join(', ')}), p50 ${fmt(m.latency.p50)} ms, p99 ${fmt(m.latency.p99)} ms${m.errors ? `, ${m.errors} errors` : ''}`;
  const rows = MODES.map((mode) => `| ${label[mode]} | ${cell(get('v1', mode))} | ${cell(get('v2', mode))} | ${fmt(v2ToV1[mode], 2)} |`).join('\n');
  const cores = cpus().length;
  const cpuCell = (m: Summary): string =>
    `${fmt(m.cpuPerOp.cassandra, 2)} + ${fmt(m.cpuPerOp.client, 2)} ms → ${fmt((cores * 1000) / (m.cpuPerOp.cassandra + m.cpuPerOp.client), 0)} /s`;
  const cpuRows = MODES.map((mode) => `| ${label[mode]} | ${cpuCell(get('v1', mode))} | ${cpuCell(get('v2', mode))} |`).join('\n');
  const met = (value: number, target: number): string => `${fmt(value, 2)} (${value >= target ? 'met' : 'not met'})`;
  const ratioRow = (name: string, key: string, target: number | null): string =>
    `| ${name} | ${target === null ? fmt(ratios['v1']?.[key] ?? NaN, 2) : met(ratios['v1']?.[key] ?? NaN, target)} | ${target === null ? fmt(ratios['v2']?.[key] ?? NaN, 2) : met(ratios['v2']?.[key] ?? NaN, target)} |`;
  const json = {
    startedAt: startedAt.toISOString(),
    machine: machine(),
    cassandra: CASSANDRA_VERSION,
    revision: gitRevision(),
    seconds: SECONDS,
    warmup: WARMUP,
    rounds: ROUNDS,
    concurrency: CONCURRENCY,
    heapMb: HEAP_MB,
    loadAverage1m: { before: loadBefore, after: loadAfter },
    reportedVariants: Object.fromEntries(nodes.map((n, k) => [n.variant, reported[k]])),
    results: Object.fromEntries(PAXOS_VARIANTS.map((v) => [v, Object.fromEntries(MODES.map((mode) => [mode, { ...get(v, mode), latencies: undefined }]))])),
    ratios,
    v2ToV1,
    v2Wins,
  };
  const both = (f: (v: PaxosVariant) => number, digits = 2): string => `${fmt(f('v1'), digits)} (v1) and ${fmt(f('v2'), digits)} (v2)`;
  const profile = [
    `- **The Paxos round itself:** a raw conditional batch runs at ${both((v) => ratios[v]?.['conditionalToPlain'] ?? NaN)} of raw plain inserts. ` +
      'An acquire is one such round, so acquires cannot reach 0.5 of raw plain inserts while the round alone stays below it.',
    `- **Cassandra CPU per write:** ${both((v) => get(v, 'raw-conditional').cpuPerOp.cassandra)} ms for the conditional batch against ` +
      `${both((v) => get(v, 'raw-plain').cpuPerOp.cassandra)} ms for a plain insert.`,
    `- **The service beyond the round:** fenced acquires on the hot tier alone run at ${both((v) => ratios[v]?.['hotFencedToConditional'] ?? NaN)} of the raw conditional batch; ` +
      `the service's own CPU is ${both((v) => get(v, 'acquire-fenced-hot').cpuPerOp.client)} ms per acquire against ${both((v) => get(v, 'raw-conditional').cpuPerOp.client)} ms for the raw driver loop.`,
    `- **The tiered store's cold copy** (a second, plain batch per acquire into the cold keyspace, on the same node here): fenced acquires through the tiered store run at ` +
      `${both((v) => get(v, 'acquire-fenced').perSecond / get(v, 'acquire-fenced-hot').perSecond)} of the hot tier alone.`,
  ].join('\n');
  const markdown = `
## Acquires vs raw conditional and plain inserts, Paxos v1 vs v2

Run of ${json.startedAt} (revision ${json.revision}). Machine: ${json.machine}; 1-minute load average ${fmt(loadBefore, 2)} before, ${fmt(loadAfter, 2)} after.
Two private Cassandra ${CASSANDRA_VERSION} nodes started by the bench on free loopback ports, the same template as the local node (${HEAP_MB} MiB heap,
commit log fsync in 5 ms groups, paxos_state_purging legacy), one with \`paxos_variant: v1\` and one with v2 (the nodes report ${reported.join(' and ')}).
Command: \`npx tsx bench/acquire-bench.ts --rounds ${ROUNDS} --seconds ${SECONDS} --warmup ${WARMUP} --concurrency ${CONCURRENCY}\` (\`npm run acquire\` in bench/).
One child process per mode and node, started once; a first round warms both nodes up unrecorded (a fresh JVM is still interpreting), then ${ROUNDS} rounds
measure every mode on both nodes (${WARMUP} s warm-up, then ${SECONDS} s measured, the nodes' order flipped each round). A rate is the median round (every
round in brackets), p50 and p99 are over all rounds' latencies. ${CONCURRENCY} operations in flight, each loop on its own member or partition (no contention). Acquires go through LicenseService.execute, MemberRepository and the store the service
opens (the tiered store; its cold keyspace is on the same node), in-process: no HTTP, no worker thread (\`npm run bench\` measures those).

| What | Paxos v1 | Paxos v2 | v2 / v1 (median of the rounds' pairs) |
| --- | --- | --- | --- |
${rows}

Where the time goes: CPU time per operation (median round, warm-up seconds included), the Cassandra node's JVM + the
child process (the service and its load loop, or the raw driver loop), and the rate at which those two alone would fill the machine's ${cores} cores
(the other node, the parent and other processes on the machine left out):

| What | Paxos v1: Cassandra + client CPU → ceiling | Paxos v2 |
| --- | --- | --- |
${cpuRows}

| Ratio (throughput) | Paxos v1 | Paxos v2 |
| --- | --- | --- |
${ratioRow('Fenced acquires / raw conditional (target ≥ 0.9)', 'fencedToConditional', 0.9)}
${ratioRow('Fenced acquires / raw plain inserts (target ≥ 0.5)', 'fencedToPlain', 0.5)}
${ratioRow('Unfenced acquires / raw conditional (target ≥ 0.9)', 'unfencedToConditional', 0.9)}
${ratioRow('Unfenced acquires / raw plain inserts (target ≥ 0.5)', 'unfencedToPlain', 0.5)}
${ratioRow('Fenced acquires, hot tier alone / raw conditional', 'hotFencedToConditional', null)}
${ratioRow('Raw conditional / raw plain (the price of the Paxos round itself)', 'conditionalToPlain', null)}

${profile}

Paxos v2 ${v2Wins ? 'wins' : 'does not win'} here on acquires (v2 / v1, median of the rounds' pairs: fenced ${fmt(v2ToV1['acquire-fenced'], 2)}, unfenced ${fmt(v2ToV1.acquire, 2)}; raw conditional ${fmt(v2ToV1['raw-conditional'], 2)}).
`;
  writeResultsSection('acquire', markdown, json);
  console.log(markdown);
}

if (args[0] === 'child') {
  const mode = MODES.find((m) => m === args[1]);
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  (mode ? childMain(mode) : Promise.reject(new Error(`unknown mode ${args[1]}`))).catch((error: unknown) => {
    console.error(error);
    process.send?.({ error: String(error) }, () => process.exit(1));
  });
} else {
  main().then(
    () => process.exit(0),
    async (error: unknown) => {
      console.error(error);
      await cleanUp();
      process.exit(1);
    },
  );
}

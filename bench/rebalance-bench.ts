/**
 * Rebalance benchmark (issue #6, "Measured, in bench/"), against one real Cassandra on
 * 127.0.0.1:9042. In one run:
 *   1. launches 3 nodes (cluster/launcher.ts, one actor worker each, a fresh cluster id), loads
 *      N members into memory with checks (bounded concurrency, round-robin over the nodes), adds
 *      a 4th node and rebalances; measures the handoff: from the rebalance call until every
 *      node's moves for the new epoch have finishedAt (polled every 200 ms, bounded);
 *   2. check latency (HdrHistogram) under a steady check load at fixed concurrency, for a fixed
 *      time before the rebalance (steady state) and during the move, with non-2xx by status/code;
 *   3. the share of members in memory that moved versus the ideal 1/4, and the plan's share of
 *      the key space.
 * All of it twice in one run (issue #14): with live migration (cluster.liveMigration true: the
 * old owners ship the members' state, node-4 installs it) and without (node-4 loads each moved
 * member from the store), each on a fresh cluster with its own members; the report compares
 * handoff members/s and p99 during the move against steady state, on against off.
 * Run: npm run cassandra:start && npx tsx bench/rebalance-bench.ts [--members 100000]
 *      [--load-concurrency 64] [--check-concurrency 16] [--steady-seconds 10] [--after-seconds 5]
 *      [--move-timeout-seconds 600] [--load-timeout-seconds 1200] [--move-concurrency <config default>]
 *      [--live-migration both|on|off]
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { build, type Histogram } from 'hdr-histogram-js';
import { Pool } from 'undici';
import { isAnswering } from '../cluster/cassandra/node.ts';
import { launchCluster, type LaunchedCluster, type LaunchedNode } from '../cluster/launcher.ts';
import type { ClusterChange } from '../src/cluster/cluster-routes.ts';
import { fmt, machine, numericArg, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => numericArg(name, fallback, args);
const MEMBERS = arg('members', 100_000);
const LOAD_CONCURRENCY = arg('load-concurrency', 64);
const CHECK_CONCURRENCY = arg('check-concurrency', 16);
const STEADY_SECONDS = arg('steady-seconds', 10);
const AFTER_SECONDS = arg('after-seconds', 5);
const MOVE_TIMEOUT_S = arg('move-timeout-seconds', 600);
const LOAD_TIMEOUT_S = arg('load-timeout-seconds', 1200);
const MOVE_CONCURRENCY = arg('move-concurrency', 0); // 0: the config's default
const POLL_MS = 200;
const WRITE = !args.includes('--no-write');
const liveArg = args.includes('--live-migration') ? args[args.indexOf('--live-migration') + 1] : 'both';
const SCENARIOS: boolean[] = liveArg === 'on' ? [true] : liveArg === 'off' ? [false] : [true, false];

const RUN = randomBytes(3).toString('hex');
/** The scenario running: each has its own cluster and its own members. */
let scenarioTag = 'on';
const clusterIdOf = (live: boolean): string => `rebalance-bench-${RUN}-${live ? 'on' : 'off'}`;
const prefixOf = (live: boolean): string => `rb-${RUN}-${live ? 'on' : 'off'}-m`;
const memberId = (i: number): string => `rb-${RUN}-${scenarioTag}-m${i}`;
const checkPath = (i: number): string => `/v1/members/${memberId(i)}/check?deviceId=d1&titleId=t1`;

const log = (message: string): void => void process.stderr.write(`[rebalance-bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- HTTP against the nodes ----

const pools = new Map<string, Pool>();
function poolOf(node: LaunchedNode): Pool {
  let pool = pools.get(node.url);
  if (!pool) {
    pool = new Pool(node.url, { connections: Math.max(LOAD_CONCURRENCY, CHECK_CONCURRENCY), pipelining: 1, keepAliveTimeout: 30_000 });
    pools.set(node.url, pool);
  }
  return pool;
}

interface Outcome {
  status: number;
  code: string | null;
  message?: string;
  servedBy: string | null;
}

async function check(node: LaunchedNode, i: number): Promise<Outcome> {
  const res = await poolOf(node).request({ method: 'GET', path: checkPath(i), headersTimeout: 30_000, bodyTimeout: 30_000, signal: AbortSignal.timeout(30_000) });
  const text = await res.body.text();
  const servedBy = res.headers['x-served-by'];
  let code: string | null = null;
  if (res.statusCode >= 300) {
    try {
      const body = JSON.parse(text) as { code?: string; message?: string };
      code = body.code ?? null;
      if (body.message) return { status: res.statusCode, code, message: body.message, servedBy: typeof servedBy === 'string' ? servedBy : null };
    } catch {
      code = 'non-json';
    }
  }
  return { status: res.statusCode, code, servedBy: typeof servedBy === 'string' ? servedBy : null };
}

/** Non-2xx answers and transport errors, by "status code" (or "error: message"). */
class Tally {
  readonly counts: Record<string, number> = {};
  /** The first few messages, with the time since the tally began. */
  readonly samples: string[] = [];
  readonly #since = performance.now();
  add(key: string, message?: string): void {
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    if (message && this.samples.length < 5) this.samples.push(`+${fmt(performance.now() - this.#since, 0)} ms: ${message}`);
  }
  get total(): number {
    return Object.values(this.counts).reduce((s, v) => s + v, 0);
  }
  describe(): string {
    const entries = Object.entries(this.counts).sort((a, b) => b[1] - a[1]);
    return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k}: ${v}`).join(', ');
  }
}

const outcomeKey = (o: Outcome): string => `${o.status} ${o.code ?? ''}`.trim();
const errorKey = (error: unknown): string => `error: ${((error as Error).message ?? String(error)).slice(0, 80)}`;

// ---- phase 1: loading ----

interface LoadResult {
  requested: number;
  ok: number;
  seconds: number;
  perSecond: number;
  failures: Tally;
  timedOut: boolean;
}

/** Members whose loading check failed: the steady load never picks them (they are not in memory). */
const failed = new Set<number>();

async function loadMembers(nodes: LaunchedNode[]): Promise<LoadResult> {
  const failures = new Tally();
  let next = 0;
  let ok = 0;
  const started = performance.now();
  const deadline = started + LOAD_TIMEOUT_S * 1000;
  let lastLog = started;
  await Promise.all(
    Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const i = next++;
        if (i >= MEMBERS) return;
        const node = nodes[i % nodes.length] as LaunchedNode;
        try {
          const outcome = await check(node, i);
          if (outcome.status === 200) ok += 1;
          else {
            failures.add(outcomeKey(outcome), outcome.message);
            failed.add(i);
          }
        } catch (error) {
          failures.add(errorKey(error));
          failed.add(i);
        }
        const now = performance.now();
        if (now - lastLog > 10_000) {
          lastLog = now;
          log(`loading: ${i + 1}/${MEMBERS}, ${fmt((ok / (now - started)) * 1000, 0)}/s, failures ${failures.total}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { requested: Math.min(next, MEMBERS), ok, seconds, perSecond: ok / seconds, failures, timedOut: next < MEMBERS };
}

// ---- phase 2: the steady check load, split into phases ----

type Phase = 'steady' | 'move' | 'after' | 'off';

interface PhaseStats {
  histogram: Histogram; // microseconds
  ok: number;
  failures: Tally;
  servedBy: Record<string, number>;
  /** Latency by the node that served the check (x-served-by), microseconds. */
  byServer: Record<string, Histogram>;
  startedAt: number;
  endedAt: number;
}

function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

class CheckLoad {
  phase: Phase = 'off';
  readonly stats: Partial<Record<Phase, PhaseStats>> = {};
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(
    private readonly nodes: () => LaunchedNode[],
    private readonly loaded: number,
  ) {}

  setPhase(phase: Phase): void {
    const now = performance.now();
    const current = this.stats[this.phase];
    if (current) current.endedAt = now;
    this.phase = phase;
    if (phase !== 'off') this.stats[phase] = { histogram: newHistogram(), ok: 0, failures: new Tally(), servedBy: {}, byServer: {}, startedAt: now, endedAt: now };
  }

  start(): void {
    let turn = 0;
    this.#loops = Array.from({ length: CHECK_CONCURRENCY }, async () => {
      while (this.#running) {
        const nodes = this.nodes();
        const node = nodes[turn++ % nodes.length] as LaunchedNode;
        let i = Math.floor(Math.random() * this.loaded);
        for (let k = 0; failed.has(i) && k < 100; k++) i = Math.floor(Math.random() * this.loaded);
        const phase = this.phase;
        const started = performance.now();
        let outcome: Outcome | null = null;
        let failure: string | null = null;
        try {
          outcome = await check(node, i);
        } catch (error) {
          failure = errorKey(error);
        }
        const micros = Math.max(1, Math.round((performance.now() - started) * 1000));
        // A request counts in the phase it started in (and only if that phase is still current).
        const stats = this.stats[phase];
        if (!stats || phase !== this.phase || phase === 'off') continue;
        stats.histogram.recordValue(micros);
        if (outcome?.servedBy) {
          stats.servedBy[outcome.servedBy] = (stats.servedBy[outcome.servedBy] ?? 0) + 1;
          (stats.byServer[outcome.servedBy] ??= newHistogram()).recordValue(micros);
        }
        if (outcome && outcome.status >= 200 && outcome.status < 300) stats.ok += 1;
        else stats.failures.add(failure ?? outcomeKey(outcome as Outcome), outcome?.message ?? failure ?? undefined);
      }
    });
  }

  async stop(): Promise<void> {
    this.setPhase('off');
    this.#running = false;
    await Promise.all(this.#loops);
  }
}

interface LatencySummary {
  seconds: number;
  requests: number;
  perSecond: number;
  ok: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  failures: Record<string, number>;
  failuresTotal: number;
  servedBy: Record<string, number>;
  /** p50 / p99 in ms by serving node. */
  byServer: Record<string, { checks: number; p50: number; p99: number }>;
}

function summarizePhase(stats: PhaseStats | undefined): LatencySummary | null {
  if (!stats) return null;
  const h = stats.histogram;
  const seconds = (stats.endedAt - stats.startedAt) / 1000;
  const ms = (p: number): number => h.getValueAtPercentile(p) / 1000;
  return {
    seconds,
    requests: h.totalCount,
    perSecond: h.totalCount / Math.max(seconds, 1e-9),
    ok: stats.ok,
    p50: ms(50),
    p99: ms(99),
    p999: ms(99.9),
    max: h.maxValue / 1000,
    failures: stats.failures.counts,
    failuresTotal: stats.failures.total,
    servedBy: stats.servedBy,
    byServer: Object.fromEntries(
      Object.entries(stats.byServer)
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([node, hist]) => [node, { checks: hist.totalCount, p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000 }]),
    ),
  };
}

// ---- the cluster's view ----

interface NodeInfo {
  id: string;
  state: string;
  reachable: boolean;
  epoch: number | null;
  membersInMemory: number | null;
  moves: {
    epoch: number;
    planned: number;
    released: number;
    warmed: number;
    installed?: number;
    failed: number;
    startedAt: number;
    finishedAt: number | null;
    superseded: boolean;
    byTarget: Record<string, number>;
  } | null;
}

async function describe(cluster: LaunchedCluster): Promise<{ epoch: number; nodes: NodeInfo[] }> {
  const answer = await cluster.admin('GET', '/v1/admin/cluster');
  if (answer.status !== 200) throw new Error(`GET /v1/admin/cluster answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body as { epoch: number; nodes: NodeInfo[] };
}

// ---- main ----

interface MoveResult {
  epoch: number;
  finished: boolean;
  timedOut: boolean;
  /** From the rebalance call until the last node's finishedAt (node clocks; same machine). */
  handoffMs: number | null;
  /** From the first sender's start to the last one's finish (the nodes' own clocks): the moving alone, without the rebalance call. */
  movingMs: number | null;
  /** From the rebalance call until a poll saw every node finished. */
  observedMs: number | null;
  rebalanceCallMs: number;
  planned: number;
  released: number;
  warmed: number;
  installed: number;
  failed: number;
  superseded: boolean;
  perNode: { id: string; planned: number; released: number; warmed: number; installed: number; failed: number; ms: number | null; byTarget: Record<string, number> }[];
  pollErrors: number;
  unreachablePolls: number;
}

/** What the comparison of the two scenarios needs. */
interface ScenarioSummary {
  live: boolean;
  membersPerSecond: number;
  moved: number;
  installed: number;
  warmed: number;
  failed: number;
  handoffS: number;
  movingPerSecond: number;
  steadyP99: number | undefined;
  moveP99: number | undefined;
  moveFailures: number;
  loadedPerSecond: number;
}

async function main(): Promise<void> {
  if (!(await isAnswering(['127.0.0.1'], 9042, 2000))) throw new Error('no Cassandra answers on 127.0.0.1:9042: run `npx tsx cluster/cassandra/cli.ts start` first');
  const benchStarted = performance.now();
  const sections: string[] = [];
  const results: unknown[] = [];
  const summaries: ScenarioSummary[] = [];
  for (const live of SCENARIOS) {
    const { markdown, result, summary } = await scenario(live);
    sections.push(markdown);
    results.push(result);
    summaries.push(summary);
  }
  const on = summaries.find((s) => s.live);
  const off = summaries.find((s) => !s.live);
  const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) ? fmt(a / b, 2) : 'n/a');
  const cell = (s: ScenarioSummary | undefined, f: (s: ScenarioSummary) => string): string => (s ? f(s) : 'not run');
  const totalS = (performance.now() - benchStarted) / 1000;
  const command = `npx tsx bench/rebalance-bench.ts --members ${MEMBERS} --load-concurrency ${LOAD_CONCURRENCY} --check-concurrency ${CHECK_CONCURRENCY} --steady-seconds ${STEADY_SECONDS}${MOVE_CONCURRENCY > 0 ? ` --move-concurrency ${MOVE_CONCURRENCY}` : ''}${liveArg !== 'both' ? ` --live-migration ${liveArg}` : ''}`;
  const markdown = `
## Rebalance, 3 to 4 nodes: live migration on and off

Machine: ${machine()}; one local Cassandra node on the same machine; the 4 service nodes (1 actor worker each, cluster/launcher.ts,
default cluster settings${MOVE_CONCURRENCY > 0 ? ` but moveConcurrency ${MOVE_CONCURRENCY}` : ' (moveConcurrency 64)'}, request logs off (warn level, as launched)) and the load generator (undici, loopback) share its 2 cores.
Command: \`npm run cassandra:start && ${command}\` (or \`npm --prefix bench run rebalance -- --members ${MEMBERS}\`).
One run (${new Date().toISOString().slice(0, 10)}, run ${RUN}, ${fmt(totalS, 0)} s in all): the same scenario on two fresh clusters, each with its own ${MEMBERS.toLocaleString('en-US')} members,
first with \`cluster.liveMigration\` true (the old owners ship each member's state, node-4 installs it without a store read), then false
(node-4 loads each moved member from the store). Latency ratios compare phases of one scenario.

| What | Live migration on | Off (store loads) | On / off | Target |
| --- | --- | --- | --- | --- |
| Handoff members/s (moved / handoff time) | ${cell(on, (s) => `${fmt(s.membersPerSecond, 0)} (${s.moved} in ${fmt(s.handoffS, 2)} s)`)} | ${cell(off, (s) => `${fmt(s.membersPerSecond, 0)} (${s.moved} in ${fmt(s.handoffS, 2)} s)`)} | ${ratio(on?.membersPerSecond, off?.membersPerSecond)} | on ≥ 10× off: ${on && off ? (on.membersPerSecond >= 10 * off.membersPerSecond ? '**met**' : '**not met**') : 'n/a'} |
| Members/s over the moving alone (first sender's start to the last one's finish) | ${cell(on, (s) => fmt(s.movingPerSecond, 0))} | ${cell(off, (s) => fmt(s.movingPerSecond, 0))} | ${ratio(on?.movingPerSecond, off?.movingPerSecond)} | |
| Installed / warmed / failed | ${cell(on, (s) => `${s.installed} / ${s.warmed} / ${s.failed}`)} | ${cell(off, (s) => `${s.installed} / ${s.warmed} / ${s.failed}`)} | | |
| Check p99, steady state | ${cell(on, (s) => `${fmt(s.steadyP99 ?? NaN, 2)} ms`)} | ${cell(off, (s) => `${fmt(s.steadyP99 ?? NaN, 2)} ms`)} | | |
| Check p99, during the move | ${cell(on, (s) => `${fmt(s.moveP99 ?? NaN, 2)} ms`)} | ${cell(off, (s) => `${fmt(s.moveP99 ?? NaN, 2)} ms`)} | | |
| p99 during the move / steady p99 | ${cell(on, (s) => ratio(s.moveP99, s.steadyP99))} | ${cell(off, (s) => ratio(s.moveP99, s.steadyP99))} | | on ≤ 2: ${on && on.moveP99 !== undefined && on.steadyP99 !== undefined ? (on.moveP99 <= 2 * on.steadyP99 ? '**met**' : '**not met**') : 'n/a'} |
| Non-2xx checks during the move | ${cell(on, (s) => String(s.moveFailures))} | ${cell(off, (s) => String(s.moveFailures))} | | |
| Cold loads while loading the members (checks, 3 nodes) | ${cell(on, (s) => `${fmt(s.loadedPerSecond, 0)}/s`)} | ${cell(off, (s) => `${fmt(s.loadedPerSecond, 0)}/s`)} | | |

${sections.join('\n')}
`;
  console.log(markdown);
  if (WRITE) writeResultsSection('rebalance', markdown, { run: RUN, members: MEMBERS, summaries, scenarios: results });
  else console.log(JSON.stringify({ summaries, scenarios: results }, null, 2));
}

async function scenario(live: boolean): Promise<{ markdown: string; result: unknown; summary: ScenarioSummary }> {
  scenarioTag = live ? 'on' : 'off';
  failed.clear();
  const CLUSTER_ID = clusterIdOf(live);
  const PREFIX = prefixOf(live);
  const benchStarted = performance.now();
  log(
    `run ${RUN}, live migration ${live ? 'on' : 'off'}: cluster ${CLUSTER_ID}, ${MEMBERS} members (${PREFIX}0..), load concurrency ${LOAD_CONCURRENCY}, check concurrency ${CHECK_CONCURRENCY}`,
  );
  const clusterSettings: Record<string, unknown> = { liveMigration: live, ...(MOVE_CONCURRENCY > 0 ? { moveConcurrency: MOVE_CONCURRENCY } : {}) };
  const cluster = await launchCluster({
    nodes: 3,
    clusterId: CLUSTER_ID,
    service: { actors: { workers: 1 }, cluster: clusterSettings, cache: { maxMembers: Math.max(100_000, MEMBERS) } },
    rules: UNLIMITED_RULES,
    startTimeoutMs: 120_000,
  });
  running = cluster;
  let load: CheckLoad | null = null;
  try {
    log(`3 nodes up: ${cluster.nodes.map((n) => `${n.id} ${n.url}`).join(', ')}`);
    const firstNodes = [...cluster.nodes];

    // 1. Load the members.
    const loading = await loadMembers(firstNodes);
    log(`loaded ${loading.ok}/${MEMBERS} in ${fmt(loading.seconds)} s (${fmt(loading.perSecond, 0)}/s), failures: ${loading.failures.describe()}`);
    const beforeView = await describe(cluster);
    const inMemoryBefore = Object.fromEntries(beforeView.nodes.map((n) => [n.id, n.membersInMemory]));
    log(`in memory per node: ${JSON.stringify(inMemoryBefore)}`);
    const loaded = Math.max(1, loading.requested);

    // 2. The 4th node joins (not in the ring yet), then the steady load runs against all 4.
    const fourth = await cluster.addNode();
    log(`${fourth.id} joined at ${fourth.url}`);
    load = new CheckLoad(() => cluster.nodes, loaded);
    load.start();
    await sleep(2000); // warm-up: connections to the new node, JIT
    load.setPhase('steady');
    // The same admin poll as during the move (every 200 ms), so the two phases differ only by the move.
    const steadyUntil = performance.now() + STEADY_SECONDS * 1000;
    while (performance.now() < steadyUntil) {
      await Promise.all([sleep(Math.min(POLL_MS, Math.max(0, steadyUntil - performance.now()))), describe(cluster).catch(() => null)]);
    }

    // 3. Rebalance under the same load; poll until every node's moves for the new epoch finished.
    load.setPhase('move');
    const rebalanceWall = Date.now();
    const rebalanceStarted = performance.now();
    const answer = await cluster.admin('POST', '/v1/admin/cluster/rebalance');
    const rebalanceCallMs = performance.now() - rebalanceStarted;
    if (answer.status !== 200) throw new Error(`rebalance answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    const { plan, view } = answer.body as ClusterChange;
    const epoch = view.epoch;
    log(
      `rebalance to epoch ${epoch} answered in ${fmt(rebalanceCallMs, 0)} ms: ${plan.membersMoving} of ${plan.membersInMemory} members moving, key space share ${fmt(plan.keyspaceShareMoving, 4)}`,
    );
    const move: MoveResult = {
      epoch,
      finished: false,
      timedOut: false,
      handoffMs: null,
      movingMs: null,
      observedMs: null,
      rebalanceCallMs,
      planned: 0,
      released: 0,
      warmed: 0,
      installed: 0,
      failed: 0,
      superseded: false,
      perNode: [],
      pollErrors: 0,
      unreachablePolls: 0,
    };
    const moveDeadline = rebalanceStarted + MOVE_TIMEOUT_S * 1000;
    let lastLog = performance.now();
    let lastNodes: NodeInfo[] = [];
    while (performance.now() < moveDeadline) {
      await sleep(POLL_MS);
      let view;
      try {
        view = await describe(cluster);
      } catch (error) {
        move.pollErrors += 1;
        log(`poll failed: ${(error as Error).message}`);
        continue;
      }
      const liveNodes = view.nodes.filter((n) => n.state !== 'removed');
      lastNodes = liveNodes;
      if (liveNodes.some((n) => !n.reachable)) move.unreachablePolls += 1;
      const done = liveNodes.every((n) => n.moves !== null && n.moves.epoch === epoch && n.moves.finishedAt !== null);
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        log(
          `moving: ${liveNodes.map((n) => `${n.id} ${n.moves ? `e${n.moves.epoch} ${n.moves.released}/${n.moves.planned} installed ${n.moves.installed ?? 0} warmed ${n.moves.warmed} failed ${n.moves.failed}` : n.reachable ? 'no moves' : 'unreachable'}`).join('; ')}`,
        );
      }
      if (liveNodes.some((n) => n.moves && n.moves.epoch > epoch)) {
        move.superseded = true;
        break;
      }
      if (done) {
        move.finished = true;
        move.observedMs = performance.now() - rebalanceStarted;
        break;
      }
    }
    move.timedOut = !move.finished && !move.superseded;
    load.setPhase('after');
    for (const n of lastNodes) {
      const m = n.moves && n.moves.epoch === epoch ? n.moves : null;
      move.perNode.push({
        id: n.id,
        planned: m?.planned ?? 0,
        released: m?.released ?? 0,
        warmed: m?.warmed ?? 0,
        installed: m?.installed ?? 0,
        failed: m?.failed ?? 0,
        ms: m?.finishedAt ? m.finishedAt - m.startedAt : null,
        byTarget: m?.byTarget ?? {},
      });
      move.planned += m?.planned ?? 0;
      move.released += m?.released ?? 0;
      move.warmed += m?.warmed ?? 0;
      move.installed += m?.installed ?? 0;
      move.failed += m?.failed ?? 0;
      if (m?.superseded) move.superseded = true;
    }
    const finishes = lastNodes.map((n) => n.moves?.finishedAt ?? null);
    if (move.finished && finishes.every((f) => f !== null)) move.handoffMs = Math.max(...finishes) - rebalanceWall;
    const senders = lastNodes.flatMap((n) => (n.moves && n.moves.epoch === epoch && n.moves.planned > 0 && n.moves.finishedAt !== null ? [n.moves] : []));
    if (move.finished && senders.length > 0) move.movingMs = Math.max(...senders.map((m) => m.finishedAt ?? 0)) - Math.min(...senders.map((m) => m.startedAt));
    log(
      `handoff ${move.finished ? 'finished' : move.superseded ? 'superseded' : 'TIMED OUT'}: ${move.planned} planned, ${move.installed} installed, ${move.warmed} warmed, ${move.failed} failed, ${move.handoffMs ?? 'n/a'} ms`,
    );

    await sleep(AFTER_SECONDS * 1000);
    await load.stop();
    const afterView = await describe(cluster);
    const inMemoryAfter = Object.fromEntries(afterView.nodes.map((n) => [n.id, n.membersInMemory]));
    log(`in memory per node after: ${JSON.stringify(inMemoryAfter)}`);

    const steady = summarizePhase(load.stats.steady);
    const during = summarizePhase(load.stats.move);
    const after = summarizePhase(load.stats.after);
    const inMemoryTotal = Object.values(inMemoryBefore).reduce<number>((s, v) => s + (v ?? 0), 0);
    const measuredShare = move.planned / Math.max(1, plan.membersInMemory);
    const handoffS = (move.handoffMs ?? move.observedMs ?? NaN) / 1000;
    const totalS = (performance.now() - benchStarted) / 1000;
    const result = {
      run: RUN,
      clusterId: CLUSTER_ID,
      liveMigration: live,
      members: MEMBERS,
      loading: { ...loading, failures: loading.failures.counts, failureSamples: loading.failures.samples },
      failureSamples: { steady: load.stats.steady?.failures.samples, move: load.stats.move?.failures.samples, after: load.stats.after?.failures.samples },
      inMemoryBefore,
      inMemoryAfter,
      plan,
      move,
      latency: { steady, move: during, after },
      share: { measured: measuredShare, keyspace: plan.keyspaceShareMoving, ideal: plan.idealShare },
      totalSeconds: totalS,
    };

    const row = (name: string, s: LatencySummary | null): string =>
      s
        ? `| ${name} | ${fmt(s.seconds)} s | ${s.requests} | ${fmt(s.perSecond, 0)} | ${fmt(s.p50, 2)} ms | ${fmt(s.p99, 2)} ms | ${fmt(s.p999, 2)} ms | ${fmt(s.max, 1)} ms | ${
            s.failuresTotal === 0
              ? '0'
              : Object.entries(s.failures)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join(', ')
          } |`
        : `| ${name} | n/a | | | | | | | |`;
    const ratio = (a: number | undefined, b: number | undefined): string => (a !== undefined && b !== undefined && b > 0 ? fmt(a / b, 2) : 'n/a');
    const markdown = `
### Live migration ${live ? 'on' : 'off'} (cluster ${CLUSTER_ID}, ${fmt(totalS, 0)} s)
${MEMBERS < 100_000 ? `\n**N = ${MEMBERS.toLocaleString('en-US')}, not the 100,000 of the issue**: see the note on N below.\n` : ''}
#### Loading ${MEMBERS.toLocaleString('en-US')} members (a check each: the owner loads the member with plain reads)

${loading.ok.toLocaleString('en-US')} of ${MEMBERS.toLocaleString('en-US')} loaded in ${fmt(loading.seconds)} s (${fmt(loading.perSecond, 0)} members/s, ${LOAD_CONCURRENCY} in flight, round-robin over the 3 nodes)${loading.timedOut ? ', **stopped by the load timeout**' : ''}.
Non-200 answers while loading: ${loading.failures.describe()}.${loading.failures.samples.length ? `\nFirst of them (time since loading began): ${loading.failures.samples.map((m) => `\`${m}\``).join('; ')}.` : ''}
In memory per node before the rebalance: ${Object.entries(inMemoryBefore)
      .map(([k, v]) => `${k} ${v ?? 'n/a'}`)
      .join(', ')} (total ${inMemoryTotal}).

#### Handoff (rebalance to epoch ${epoch}, node-4 joins the ring)

| What | Result |
| --- | --- |
| Rebalance call (plan: preview on every node, then the epoch CAS) | ${fmt(rebalanceCallMs, 0)} ms |
| Handoff time: rebalance call until the last node's moves finished | ${move.handoffMs !== null ? `${fmt(move.handoffMs / 1000, 2)} s` : move.timedOut ? `**not finished within ${MOVE_TIMEOUT_S} s**` : 'n/a'} (seen by the 200 ms poll after ${move.observedMs !== null ? `${fmt(move.observedMs / 1000, 2)} s` : 'n/a'}) |
| Members moved (sum of planned) | ${move.planned} (plan said ${plan.membersMoving}) |
| Released / installed (shipped) / warmed (loaded) / failed | ${move.released} / ${move.installed} / ${move.warmed} / ${move.failed} |
| Members/s (moved / handoff time) | ${fmt(move.planned / handoffS, 0)} |
| Moving time: first sender's start to the last one's finish; members/s over it | ${move.movingMs !== null ? `${fmt(move.movingMs / 1000, 2)} s; ${fmt(move.planned / (move.movingMs / 1000), 0)}` : 'n/a'} |
| Superseded / timed out | ${move.superseded} / ${move.timedOut} |
| Polls that failed / saw a node unreachable | ${move.pollErrors} / ${move.unreachablePolls} |

Per node: ${move.perNode
      .map(
        (n) =>
          `${n.id} ${n.planned} planned, ${n.installed} installed, ${n.warmed} warmed, ${n.failed} failed${n.ms !== null ? ` in ${fmt(n.ms / 1000, 2)} s` : ''}${
            Object.keys(n.byTarget).length
              ? ` (to ${Object.entries(n.byTarget)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(', ')})`
              : ''
          }`,
      )
      .join('; ')}.
In memory per node after: ${Object.entries(inMemoryAfter)
      .map(([k, v]) => `${k} ${v ?? 'n/a'}`)
      .join(', ')}.

#### Share moved

| What | Share | Ratio to ideal |
| --- | --- | --- |
| Ideal for 3 to 4 nodes (1/4) | ${fmt(plan.idealShare, 4)} | 1.00 |
| Measured: members in memory that moved (${move.planned} / ${plan.membersInMemory}) | ${fmt(measuredShare, 4)} | ${ratio(measuredShare, plan.idealShare)} |
| Plan: share of the key space changing owner (20,000-key sample) | ${fmt(plan.keyspaceShareMoving, 4)} | ${ratio(plan.keyspaceShareMoving, plan.idealShare)} |

#### Check latency, ${CHECK_CONCURRENCY} in flight, members sampled from the loaded set, round-robin over all 4 nodes

Steady state: node-4 running but joining (it forwards everything), ${STEADY_SECONDS} s before the rebalance, with the same admin poll (GET /v1/admin/cluster every 200 ms) as during the move; move: from the rebalance call until every node finished; after: ${AFTER_SECONDS} s after that.

| Phase | Duration | Checks | Checks/s | p50 | p99 | p99.9 | max | Non-2xx / errors |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${row('Steady state', steady)}
${row('During the move', during)}
${row('After the move', after)}

${[['steady', load.stats.steady] as const, ['move', load.stats.move] as const, ['after', load.stats.after] as const]
  .filter(([, st]) => st && st.failures.samples.length)
  .map(([name, st]) => `First non-2xx (${name}): ${st?.failures.samples.map((m) => `\`${m}\``).join('; ')}.\n`)
  .join('')}p99 during the move / steady p99: ${ratio(during?.p99, steady?.p99)}; p99.9: ${ratio(during?.p999, steady?.p999)}.${
      MEMBERS < 100_000
        ? `

Note on N: the issue asks for 100,000 members. Loading them is bound by Cassandra on this shared 2-core machine
(${fmt(loading.perSecond, 0)} members/s here), so 100,000 would take about ${fmt(100_000 / loading.perSecond / 60, 1)} min to load per scenario, plus about
${fmt(25_000 / (move.planned / handoffS) / 60, 1)} min of handoff at this scenario's rate; this scenario took ${fmt(totalS / 60, 1)} min. Rerun with \`--members 100000\`
on a bigger machine (the bench bounds loading by \`--load-timeout-seconds\` and the handoff by \`--move-timeout-seconds\`).`
        : ''
    }

By serving node (x-served-by: checks, p50, p99; during the move node-4 serves exactly the members that moved):

| Phase | ${['node-1', 'node-2', 'node-3', 'node-4'].join(' | ')} |
| --- | --- | --- | --- | --- |
${[['Steady state', steady] as const, ['During the move', during] as const, ['After the move', after] as const]
  .map(
    ([name, s]) =>
      `| ${name} | ${['node-1', 'node-2', 'node-3', 'node-4']
        .map((id) => {
          const b = s?.byServer[id];
          return b ? `${b.checks}, ${fmt(b.p50, 1)} ms, ${fmt(b.p99, 1)} ms` : '0';
        })
        .join(' | ')} |`,
  )
  .join('\n')}
`;
    const summary: ScenarioSummary = {
      live,
      membersPerSecond: move.planned / handoffS,
      moved: move.planned,
      installed: move.installed,
      warmed: move.warmed,
      failed: move.failed,
      handoffS,
      movingPerSecond: move.movingMs ? move.planned / (move.movingMs / 1000) : NaN,
      steadyP99: steady?.p99,
      moveP99: during?.p99,
      moveFailures: during?.failuresTotal ?? 0,
      loadedPerSecond: loading.perSecond,
    };
    return { markdown, result, summary };
  } finally {
    await load?.stop().catch(() => {});
    await Promise.all([...pools.values()].map((pool) => pool.destroy().catch(() => {})));
    log('stopping the cluster');
    await cluster.stop();
  }
}

// Everything is bounded: a last resort in case a step hangs past its own timeout.
const HARD_LIMIT_S = LOAD_TIMEOUT_S + MOVE_TIMEOUT_S + STEADY_SECONDS + AFTER_SECONDS + 300;
let running: LaunchedCluster | null = null;
const abort = (why: string): void => {
  log(`${why}: stopping the cluster and exiting`);
  const exit = (): never => process.exit(2);
  setTimeout(exit, 20_000).unref();
  void (running?.stop() ?? Promise.resolve()).finally(exit);
};
setTimeout(() => abort(`hard time limit of ${HARD_LIMIT_S} s reached`), HARD_LIMIT_S * 1000).unref();
process.once('SIGINT', () => abort('SIGINT'));
process.once('SIGTERM', () => abort('SIGTERM'));

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

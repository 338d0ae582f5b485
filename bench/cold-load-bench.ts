/**
 * Cold loads in cluster mode vs single-node mode (issue 14, item 4): members loaded from
 * Cassandra through `MemberRepository.load`, no member cache, the way a node loads a member it
 * just took over.
 *
 *   single   loads without a fence (single-node mode);
 *   cluster  loads with this node's fence: plain reads of the head and its owner; the claim rides
 *            on the member's first write (src/store/event-store.ts, WriteFence);
 *   claim    the previous cluster load, measured for comparison: a Paxos claim (serial read and
 *            LWT) before the reads (`store.claim`, which the store still offers to tools).
 *
 * Each variant runs in its own process on its own members of the same shape (a snapshot and 10
 * events after it, owned by another node), in rounds that alternate the order, so a noisy
 * neighbour hits all of them alike. Loopback only, bounded.
 * Run: npm run cassandra:start && npx tsx bench/cold-load-bench.ts [--members 300] [--rounds 3] [--concurrency 16]
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import cassandra from 'cassandra-driver';
import { cassandraContactPointsFrom, parseConfig } from '../src/config/load.ts';
import { MemberRepository } from '../src/service/member-repository.ts';
import { CassandraEventStore } from '../src/store/cassandra/cassandra-event-store.ts';
import type { OwnershipFence } from '../src/store/event-store.ts';
import { fmt, machine, numericArg, summarize, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const HERE = fileURLToPath(import.meta.url);
const MEMBERS = numericArg('members', 300);
const ROUNDS = numericArg('rounds', 3);
const CONCURRENCY = numericArg('concurrency', 16);
const DAY = 86_400_000;
const VARIANTS = ['single', 'cluster', 'claim'] as const;
type Variant = (typeof VARIANTS)[number];

const config = parseConfig({ service: { store: 'cassandra', cassandra: { keyspace: 'license_bench' } }, rules: UNLIMITED_RULES }, null);
const settings = { ...config.service.cassandra, contactPoints: cassandraContactPointsFrom(process.env) ?? config.service.cassandra.contactPoints };
const OLD_OWNER: OwnershipFence = { epoch: 1, node: 'old-owner' };
const NEW_OWNER: OwnershipFence = { epoch: 2, node: 'new-owner' };

// The driver checks `instanceof RequestTracker` at run time, while its typings declare an interface.
const RequestTrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => cassandra.tracker.RequestTracker }).RequestTracker;

/** Counts requests, and the serial (Paxos) ones apart. */
class CountingTracker extends RequestTrackerBase {
  requests = 0;
  paxos = 0;
  override onSuccess(_host: unknown, query: unknown, _params: unknown, options: cassandra.ExecutionOptions): void {
    this.requests += 1;
    if (isPaxos(query, options)) this.paxos += 1;
  }
  override onError(): void {
    this.requests += 1;
  }
}

function isPaxos(query: unknown, options: cassandra.ExecutionOptions): boolean {
  const text = typeof query === 'string' ? query : '';
  const consistency = options.getConsistency?.();
  return / IF /i.test(text) || consistency === cassandra.types.consistencies.serial || consistency === cassandra.types.consistencies.localSerial;
}

interface ChildResult {
  variant: Variant;
  loadsPerSecond: number;
  latencyMs: { p50: number; p99: number };
  requestsPerLoad: number;
  paxosPerLoad: number;
}

/** Writes `count` members owned by OLD_OWNER: 30 events, a snapshot, 10 more events. */
async function seed(store: CassandraEventStore, prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const writer = new MemberRepository(store, { eventCount: 1_000_000, replayMs: 1_000_000 });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        const member = await writer.load(id, OLD_OWNER);
        let t = Date.UTC(2026, 0, 1);
        for (let i = 0; member.head.position < 40; i++) {
          if (member.head.position >= 30 && member.head.generation === 0) await writer.snapshot(member, { rethrow: true });
          t += DAY;
          const licenseId = randomUUID();
          await writer.append(
            member,
            [
              { type: 'LicenseAcquired', at: t, licenseId, deviceId: `d${i % 3}`, titleId: `title-${i % 20}`, studioId: null, expiresAt: t + 30 * DAY },
              { type: 'TitleDownloaded', at: t, titleId: `title-${i % 20}`, licenseId, deviceId: `d${i % 3}`, via: 'acquire' },
            ],
            { rulesVersion: 'bench-1' },
          );
        }
      }
    }),
  );
  return ids;
}

async function child(variant: Variant, ids: string[]): Promise<ChildResult> {
  const tracker = new CountingTracker();
  const store = await CassandraEventStore.connect(settings, { requestTracker: tracker });
  try {
    const repository = new MemberRepository(store, { eventCount: 1_000_000, replayMs: 1_000_000 });
    const fence = variant === 'single' ? null : NEW_OWNER;
    // Warm the connections and prepared statements on members of another set first.
    for (let i = 0; i < 20 && i < ids.length; i++) await repository.load(`warm-${i}`, fence);
    const requestsBefore = tracker.requests;
    const paxosBefore = tracker.paxos;
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < ids.length) {
          const id = ids[next++] as string;
          const t0 = performance.now();
          if (variant === 'claim' && fence) await store.claim(id, fence);
          await repository.load(id, fence);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const summary = summarize(latencies);
    return {
      variant,
      loadsPerSecond: ids.length / seconds,
      latencyMs: { p50: summary.p50, p99: summary.p99 },
      requestsPerLoad: (tracker.requests - requestsBefore) / ids.length,
      paxosPerLoad: (tracker.paxos - paxosBefore) / ids.length,
    };
  } finally {
    await store.close();
  }
}

function runChild(variant: Variant, ids: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const worker = fork(HERE, ['child', variant], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const timer = setTimeout(() => worker.kill('SIGKILL'), 5 * 60_000);
    worker.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as ChildResult);
      worker.disconnect();
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${variant} child exited with ${code ?? 'a signal'} before reporting`));
    });
    worker.send(ids);
  });
}

async function main(): Promise<void> {
  const store = await CassandraEventStore.connect(settings);
  const runId = randomUUID().slice(0, 8);
  const sets = new Map<string, string[]>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const variant of VARIANTS) sets.set(`${variant}-${round}`, await seed(store, `cold-${runId}-${variant}-${round}`, MEMBERS));
    }
  } finally {
    await store.close();
  }
  const results = new Map<Variant, ChildResult[]>(VARIANTS.map((variant) => [variant, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
    for (const variant of order) {
      const result = await runChild(variant, sets.get(`${variant}-${round}`) ?? []);
      results.get(variant)?.push(result);
      console.log(`round ${round} ${variant}: ${fmt(result.loadsPerSecond, 0)} loads/s, p50 ${fmt(result.latencyMs.p50)} ms, ${fmt(result.paxosPerLoad, 2)} Paxos/load`);
    }
  }
  const median = (variant: Variant): ChildResult => {
    const sorted = [...(results.get(variant) ?? [])].sort((a, b) => a.loadsPerSecond - b.loadsPerSecond);
    const middle = sorted[Math.floor(sorted.length / 2)];
    if (!middle) throw new Error(`no result for ${variant}`);
    return middle;
  };
  const single = median('single');
  const cluster = median('cluster');
  const claim = median('claim');
  const ratio = cluster.loadsPerSecond / single.loadsPerSecond;
  // Paired by round (run minutes apart): the spread says how much of the ratio is the machine.
  const paired = (results.get('cluster') ?? []).map((r, i) => r.loadsPerSecond / (results.get('single')?.[i]?.loadsPerSecond ?? NaN));
  const row = (name: string, r: ChildResult): string =>
    `| ${name} | ${fmt(r.loadsPerSecond, 0)} | ${fmt(r.latencyMs.p50)} / ${fmt(r.latencyMs.p99)} | ${fmt(r.requestsPerLoad, 1)} | ${fmt(r.paxosPerLoad, 2)} | ${fmt(r.loadsPerSecond / single.loadsPerSecond, 2)}× |`;
  const markdown = `
## Cold loads: cluster mode vs single-node mode (issue 14)

Machine: ${machine()}; one local Cassandra node. Command: \`npm run cassandra:start && npx tsx bench/cold-load-bench.ts --members ${MEMBERS} --rounds ${ROUNDS} --concurrency ${CONCURRENCY}\`.
Each variant loads ${MEMBERS} members it never saw (a snapshot and 10 events after it, owned by another node) through \`MemberRepository.load\`, ${CONCURRENCY} at a time, in its own process; ${ROUNDS} rounds alternating the order; the median round per variant.

| Variant | Loads/s | p50 / p99 ms | CQL requests per load | Paxos rounds per load | vs single node |
| --- | --- | --- | --- | --- | --- |
${row('single node (no fence)', single)}
${row('cluster: plain reads, the claim rides on the first write', cluster)}
${row('cluster before issue 14: claim (serial read + LWT), then reads', claim)}

Target: cluster-mode cold loads ≥ 0.9× single-node cold loads. Measured ${fmt(ratio, 2)}× (ratio of the medians): **${ratio >= 0.9 ? 'met' : 'not met'}**.
Cluster over single node, round by round: ${paired.map((r) => `${fmt(r, 2)}×`).join(', ')}. Both send the same CQL requests per load and no Paxos round, so the spread is this shared machine's noise; the request counts are the stable evidence.
`;
  writeResultsSection('cold-loads', markdown, { machine: machine(), members: MEMBERS, rounds: ROUNDS, concurrency: CONCURRENCY, results: Object.fromEntries(results) });
  console.log(markdown);
}

if (process.argv[2] === 'child') {
  const variant = process.argv[3] as Variant;
  process.once('message', (ids: string[]) => {
    child(variant, ids).then(
      (result) => process.send?.(result),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
} else {
  await main();
}

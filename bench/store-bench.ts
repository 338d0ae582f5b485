/**
 * Event store benchmark against one real Cassandra (issue: Cassandra event store).
 * Measures, in one run on one node:
 *   1. the ceiling: raw prepared single-row inserts per second from cassandra-driver;
 *   2. acquires per second through the service and the store's concurrency control
 *      (a Paxos lightweight transaction per append);
 *   3. the cost of that concurrency control per append: the same batch, conditional vs not;
 *   4. a cold load of a member with a one-year history of 500 events, without and with a snapshot.
 * Run: npm run cassandra:start && npx tsx bench/store-bench.ts [--seconds 10] [--concurrency 32]
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import cassandra from 'cassandra-driver';
import { cassandraContactPointsFrom, parseConfig } from '../src/config/load.ts';
import { RulesSource } from '../src/config/rules-source.ts';
import type { Rules } from '../src/domain/rules.ts';
import { ManualClock } from '../src/service/clock.ts';
import { LicenseService } from '../src/service/license-service.ts';
import { MemberRepository } from '../src/service/member-repository.ts';
import { CassandraEventStore } from '../src/store/cassandra/cassandra-event-store.ts';
import { EMPTY_HEAD, type NewEventRecord, type StreamHead } from '../src/store/event-store.ts';
import { fmt, machine, numericArg, summarize, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number): number => numericArg(name, fallback, args);
const SECONDS = arg('seconds', 10);
const CONCURRENCY = arg('concurrency', 32);
const DAY = 86_400_000;

const rules: Rules = UNLIMITED_RULES;
const config = parseConfig({ service: { store: 'cassandra', cassandra: { keyspace: 'license_bench' } }, rules }, null);
const settings = { ...config.service.cassandra, contactPoints: cassandraContactPointsFrom(process.env) ?? config.service.cassandra.contactPoints };

/** Runs `op` from `concurrency` loops for `seconds`; returns completed operations per second. */
async function throughput(seconds: number, concurrency: number, op: (worker: number, i: number) => Promise<void>): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        await op(worker, i);
        done += 1;
      }
    }),
  );
  return done / seconds;
}

// The driver checks `instanceof RequestTracker` at run time, while its typings declare an
// interface: extend the runtime class through a constructor type.
const RequestTrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => cassandra.tracker.RequestTracker }).RequestTracker;

/** Counts the CQL requests the store sends (for the cold-load query counts). */
class CountingTracker extends RequestTrackerBase {
  count = 0;
  override onSuccess(): void {
    this.count += 1;
  }
  override onError(): void {
    this.count += 1;
  }
}

async function main(): Promise<void> {
  const tracker = new CountingTracker();
  const store = await CassandraEventStore.connect(settings, { requestTracker: tracker });
  const client = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter, keyspace: settings.keyspace });
  await client.connect();
  await client.execute('CREATE TABLE IF NOT EXISTS raw_inserts (id uuid PRIMARY KEY, member_id text, payload text)');
  const consistency = { prepare: true, consistency: cassandra.types.consistencies.localQuorum };

  // 1. Ceiling: raw prepared single-row inserts.
  const payload = JSON.stringify({ licenseId: randomUUID(), deviceId: 'phone-1', titleId: 'title-1', studioId: null, expiresAt: Date.now() });
  const rawPerSecond = await throughput(SECONDS, CONCURRENCY, async () => {
    await client.execute('INSERT INTO raw_inserts (id, member_id, payload) VALUES (?, ?, ?)', [randomUUID(), 'm', payload], consistency);
  });

  // 2. Acquires through the service: decide, then a conditional append of 2-3 events.
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const service = new LicenseService({
    repository: new MemberRepository(store, config.service.snapshot),
    rules: new RulesSource(rules),
    clock,
    maxMembersInMemory: 100_000,
    conflictRetries: 3,
  });
  const runId = randomUUID().slice(0, 8);
  const acquiresPerSecond = await throughput(SECONDS, CONCURRENCY, async (worker, i) => {
    const result = await service.execute(`bench-${runId}-${worker}`, { type: 'AcquireLicense', deviceId: 'phone-1', titleId: `title-${i}` });
    if (result.outcome !== 'done') throw new Error(`acquire refused: ${result.refusal.reason}`);
  });

  // 3. Per-append cost of the lightweight transaction: the same two-row batch, sequentially.
  const rows = (i: number): NewEventRecord[] => [
    {
      aggregateName: 'license',
      aggregateId: `L${i}`,
      at: 1_000 + i,
      type: 'LicenseAcquired',
      schemaVersion: 1,
      serializer: 'json',
      payload,
      rulesVersion: 'bench-1',
      requestId: null,
    },
    {
      aggregateName: 'downloaded',
      aggregateId: `T${i}`,
      at: 1_000 + i,
      type: 'TitleDownloaded',
      schemaVersion: 1,
      serializer: 'json',
      payload,
      rulesVersion: 'bench-1',
      requestId: null,
    },
  ];
  const SEQUENTIAL = 300;
  const conditional: number[] = [];
  let head: StreamHead = EMPTY_HEAD;
  const lwtMember = `lwt-${runId}`;
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    head = await store.append(lwtMember, head, rows(i));
    conditional.push(performance.now() - started);
  }
  const plainInsert =
    'INSERT INTO events (member_id, generation, aggregate_name, aggregate_id, at, position, type, schema_version, serializer, payload, rules_version, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  const unconditional: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    await client.batch(
      rows(i).map((r, k) => ({
        query: plainInsert,
        params: [`plain-${runId}`, 0, r.aggregateName, r.aggregateId, cassandra.types.Long.fromNumber(r.at), 2 * i + k + 1, r.type, 1, 'json', r.payload, 'bench-1', null],
      })),
      { ...consistency, logged: false },
    );
    unconditional.push(performance.now() - started);
  }

  // 4. Cold load of a member with a one-year history of 500 events, without and with a snapshot.
  const historyMember = `history-${runId}`;
  const writer = new MemberRepository(store, { eventCount: 1_000_000, replayMs: 1_000_000 });
  const member = await writer.load(historyMember);
  let t = Date.UTC(2025, 0, 1);
  for (let i = 0; member.head.position < 500; i++) {
    t += Math.floor((365 * DAY) / 200);
    const licenseId = randomUUID();
    // acquire (2-3 events), playback, release: 4-5 events per title, spread over a year
    await writer.append(
      member,
      [
        { type: 'LicenseAcquired', at: t, licenseId, deviceId: `d${i % 3}`, titleId: `title-${i % 40}`, studioId: null, expiresAt: t + 30 * DAY },
        { type: 'TitleDownloaded', at: t, titleId: `title-${i % 40}`, licenseId, deviceId: `d${i % 3}`, via: 'acquire' },
      ],
      { rulesVersion: 'bench-1' },
    );
    await writer.append(member, [{ type: 'PlaybackRecorded', at: t + DAY, licenseId, sessions: [{ sessionId: `s${i}`, startedAt: t + DAY, durationMs: 3_600_000 }] }], {
      rulesVersion: 'bench-1',
    });
    await writer.append(member, [{ type: 'LicenseReleased', at: t + 2 * DAY, licenseId, cause: 'member' }], { rulesVersion: 'bench-1' });
  }
  const coldLoad = async (repository: MemberRepository): Promise<{ ms: number; queries: number; events: number }> => {
    const samples: { ms: number; queries: number; events: number }[] = [];
    for (let k = 0; k < 7; k++) {
      const before = tracker.count;
      const started = performance.now();
      const loaded = await repository.load(historyMember);
      samples.push({ ms: performance.now() - started, queries: tracker.count - before, events: loaded.eventsSinceSnapshot });
    }
    samples.sort((a, b) => a.ms - b.ms);
    return samples[Math.floor(samples.length / 2)] ?? { ms: NaN, queries: NaN, events: NaN };
  };
  const noSnapshotRepository = new MemberRepository(store, { eventCount: 1_000_000, replayMs: 1_000_000 });
  const withoutSnapshot = await coldLoad(noSnapshotRepository);
  await writer.snapshot(member);
  const withSnapshot = await coldLoad(noSnapshotRepository);

  const lwt = summarize(conditional);
  const plain = summarize(unconditional);
  const result = {
    machine: machine(),
    cassandra: settings.contactPoints,
    seconds: SECONDS,
    concurrency: CONCURRENCY,
    rawInsertsPerSecond: rawPerSecond,
    acquiresPerSecond,
    appendLatencyMs: { conditional: lwt, unconditional: plain },
    coldLoad: { historyEvents: member.head.position, withoutSnapshot, withSnapshot },
  };
  const markdown = `
## Event store on Cassandra

Machine: ${result.machine}; one local Cassandra 5.0 node (1 GiB heap, commit log fsync in 5 ms groups) on the same machine.
Command: \`npm run cassandra:start && npx tsx bench/store-bench.ts --seconds ${SECONDS} --concurrency ${CONCURRENCY}\`.
All figures come from one run; ratios compare figures of that run only.

| What | Result | Ratio |
| --- | --- | --- |
| Raw prepared single-row inserts (ceiling), ${CONCURRENCY} in flight | ${fmt(rawPerSecond, 0)} /s | 1.00 |
| Acquires through the service (decide + conditional append of 2-3 events, snapshots included), ${CONCURRENCY} members in flight | ${fmt(acquiresPerSecond, 0)} /s | ${fmt(acquiresPerSecond / rawPerSecond, 2)} of the ceiling |
| Append latency, conditional batch (Paxos), sequential | mean ${fmt(lwt.mean)} ms, p50 ${fmt(lwt.p50)} ms, p99 ${fmt(lwt.p99)} ms | ${fmt(lwt.mean / plain.mean, 2)} × the plain batch |
| Append latency, the same batch unconditional, sequential | mean ${fmt(plain.mean)} ms, p50 ${fmt(plain.p50)} ms, p99 ${fmt(plain.p99)} ms | 1.00 |
| Cold load, ${result.coldLoad.historyEvents} events, no snapshot | ${fmt(withoutSnapshot.ms)} ms, ${withoutSnapshot.queries} queries, ${withoutSnapshot.events} events replayed | 1.00 |
| Cold load, same member after a snapshot | ${fmt(withSnapshot.ms)} ms, ${withSnapshot.queries} queries, ${withSnapshot.events} events replayed | ${fmt(withSnapshot.ms / withoutSnapshot.ms, 2)} of the time |

The concurrency control costs about ${fmt(lwt.mean - plain.mean)} ms per append here (a Paxos round: prepare, read, propose, commit),
${fmt(lwt.mean / plain.mean, 1)} times a plain batch; it is what refuses a stale writer.
`;
  writeResultsSection('store', markdown, result);
  console.log(markdown);
  await client.shutdown();
  await store.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * Member state benchmark (issue 13, item 1): a member's state is bounded by what the rules need,
 * so memory per cached member and snapshot bytes stay flat over years of history.
 *
 * For each shape, a child process (run with --expose-gc, nothing else on its heap) builds one
 * member through a real LicenseService on a manual clock and an in-memory SQLite store, copies
 * its latest snapshot and the events after it under many member ids, loads them all into a
 * fresh LicenseService (snapshot decode and tail replay, as a cache miss does), and divides the
 * V8 heap they add by their number. The cache's own estimate (approximateMemberBytes, the
 * byte bound of `cache.maxBytes`) is read from the same service.
 *
 * Shapes: 3 active licenses (nothing else); and the same 3 held for 1, 5 and 10 simulated years
 * while the member acquires and releases one title a day (each with a request id), each
 * measured right after a snapshot and again about a generation later (the largest state between
 * two snapshots).
 *
 * Run: npx tsx bench/member-state-bench.ts
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EventRecord, NewEventRecord } from '../src/store/event-store.ts';
import { fmt, machine, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const HERE = fileURLToPath(import.meta.url);
const T0 = Date.UTC(2026, 0, 1);

interface Shape {
  name: string;
  years: number;
  /** After the last snapshot: 'snapshot' (none) or 'generation' (close to a full generation). */
  phase: 'snapshot' | 'generation';
  members: number;
}

interface Measured {
  name: string;
  years: number;
  phase: Shape['phase'];
  members: number;
  heapPerMember: number;
  estimatePerMember: number;
  snapshotBytes: number;
  eventsSinceSnapshot: number;
  licenses: number;
  downloads: number;
}

const SHAPES: Shape[] = [
  { name: '3 active licenses', years: 0, phase: 'snapshot', members: 10_000 },
  ...[1, 5, 10].flatMap((years): Shape[] => [
    { name: `3 active, ${years} year(s) of one acquire and release a day, after a snapshot`, years, phase: 'snapshot', members: 1_000 },
    { name: `3 active, ${years} year(s) of one acquire and release a day, a generation later`, years, phase: 'generation', members: 1_000 },
  ]),
];

async function child(shape: Shape): Promise<Measured> {
  const { SqliteEventStore } = await import('../src/store/sqlite/sqlite-event-store.ts');
  const { EMPTY_HEAD } = await import('../src/store/event-store.ts');
  const { MemberRepository } = await import('../src/service/member-repository.ts');
  const { LicenseService } = await import('../src/service/license-service.ts');
  const { RulesSource } = await import('../src/config/rules-source.ts');
  const { ManualClock } = await import('../src/service/clock.ts');
  const { randomUUID } = await import('node:crypto');
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const thresholds = { eventCount: 200, replayMs: 1_000_000, releasedLicenseRetentionDays: 30 };
  const rules = new RulesSource(UNLIMITED_RULES);
  const clock = new ManualClock(T0);
  const template = new SqliteEventStore(':memory:');
  const service = (store: InstanceType<typeof SqliteEventStore>): InstanceType<typeof LicenseService> =>
    new LicenseService({ repository: new MemberRepository(store, thresholds), rules, clock, maxMembersInMemory: 1_000_000, maxBytesInMemory: 2 ** 40, conflictRetries: 0 });

  // The template member: 3 licenses held throughout, then one title a day for `years`.
  const building = service(template);
  const run = async (input: Parameters<typeof building.execute>[1], requestId?: string): Promise<string> => {
    const result = await building.execute('template', { ...input, requestId });
    if (result.outcome !== 'done') throw new Error(`refused: ${JSON.stringify(result)}`);
    return result.answer.kind === 'acquire' ? result.answer.licenseId : '';
  };
  for (let k = 0; k < 3; k++) await run({ type: 'AcquireLicense', deviceId: `tablet-${k % 2}`, titleId: `kept-${k}` });
  // A fixed walk through a catalogue of 1000 titles (a linear congruential sequence: no Math.random).
  let seed = 12345;
  const day = async (): Promise<void> => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    clock.set(clock.now() + 8 * 3_600_000);
    const licenseId = await run({ type: 'AcquireLicense', deviceId: 'phone', titleId: `t-${seed % 1000}` }, randomUUID());
    clock.set(clock.now() + 12 * 3_600_000);
    await run({ type: 'ReleaseLicense', licenseId }, randomUUID());
    clock.set(clock.now() + 4 * 3_600_000);
  };
  for (let d = 0; d < shape.years * 365; d++) await day();
  await building.snapshotNow('template');
  if (shape.phase === 'generation') {
    // Days until the next command would cross the snapshot threshold: the largest state between snapshots.
    for (;;) {
      const head = await template.readHead('template');
      const snapshot = await template.readLatestSnapshot('template');
      if (head.position - (snapshot?.position ?? 0) >= thresholds.eventCount - 8) break;
      await day();
    }
  }
  const snapshot = await template.readLatestSnapshot('template');
  if (snapshot === null) throw new Error('no snapshot');
  const tail: EventRecord[] = await collect(template.readGeneration('template', snapshot.generation));

  // Copies: a filler event in generation 0, the template's snapshot sealing it, then its tail.
  const copies = new SqliteEventStore(':memory:');
  const asNew = ({ memberId: _m, generation: _g, position: _p, ...row }: EventRecord): NewEventRecord => row;
  const filler = tail[0] ?? (await collect(template.readGeneration('template', 0)))[0];
  if (filler === undefined) throw new Error('no event to copy');
  const ids = Array.from({ length: shape.members }, (_, i) => `member-${i}`);
  for (const id of ids) {
    const head = await copies.append(id, EMPTY_HEAD, [asNew(filler)]);
    const sealed = await copies.writeSnapshot(id, head, { takenAt: snapshot.takenAt, schemaVersion: snapshot.schemaVersion, payload: snapshot.payload });
    if (tail.length > 0) await copies.append(id, sealed, tail.map(asNew));
  }

  const fresh = service(copies);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (const id of ids) await fresh.warm(id);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const stats = fresh.stats();
  if (stats.membersInMemory !== shape.members) throw new Error('members were evicted during the measurement');
  const loaded = new MemberRepository(copies, thresholds);
  const sample = await loaded.load(ids[0] ?? 'member-0');
  return {
    name: shape.name,
    years: shape.years,
    phase: shape.phase,
    members: shape.members,
    heapPerMember: (after - before) / shape.members,
    estimatePerMember: stats.approximateBytes / shape.members,
    snapshotBytes: Buffer.byteLength(snapshot.payload),
    eventsSinceSnapshot: tail.length,
    licenses: sample.state.licenses.size,
    downloads: sample.state.downloaded.downloads.length,
  };
}

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const row of rows) all.push(row);
  return all;
}

function measure(shape: Shape): Promise<Measured> {
  const worker = fork(HERE, ['child', JSON.stringify(shape)], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    worker.once('message', (result: Measured) => resolve(result));
    worker.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`${shape.name}: child exited with ${code}`))));
  });
}

const kib = (bytes: number): string => `${fmt(bytes / 1024, 1)} KiB`;

async function main(): Promise<void> {
  const results: Measured[] = [];
  for (const shape of SHAPES) {
    const result = await measure(shape);
    process.stdout.write(`${result.name}: ${fmt(result.heapPerMember, 0)} B heap, estimate ${fmt(result.estimatePerMember, 0)} B, snapshot ${result.snapshotBytes} B\n`);
    results.push(result);
  }
  const small = results[0] as Measured;
  const at = (years: number, phase: Shape['phase']): Measured => results.find((r) => r.years === years && r.phase === phase) as Measured;
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.licenses} | ${r.downloads} | ${r.eventsSinceSnapshot} | ${fmt(r.heapPerMember, 0)} B | ${fmt(r.estimatePerMember, 0)} B | ${fmt(r.estimatePerMember / r.heapPerMember, 2)} | ${r.snapshotBytes} B |`,
  );
  const ratio = (a: number, b: number): string => fmt(a / b, 2);
  const markdown = `
## Member state: memory per cached member and snapshot bytes over years

Machine: ${machine()}. Command: \`npx tsx bench/member-state-bench.ts\`.
One run. Each shape in its own child process (\`--expose-gc\`): one member is built through a LicenseService on a manual clock
and an in-memory SQLite store (snapshots every 200 events, released licenses kept 30 days), its latest snapshot and the events
after it are copied under ${small.members} (small) or ${at(1, 'snapshot').members} (large) member ids, and all of them are loaded
into a fresh LicenseService (snapshot decode and tail replay, as a cache miss does). Heap: V8 \`heapUsed\` after a full GC,
after the loads minus before, divided by the members. Estimate: the cache's \`approximateMemberBytes\` (what \`cache.maxBytes\`
counts), read from the same service. The steady member holds 3 licenses throughout and acquires and releases one title a day
(from a catalogue of 1000), each command with a request id.

| Shape | Licenses | Downloads | Events since snapshot | V8 heap per member | Estimate | Estimate / heap | Snapshot payload |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Flat over years, ratio to one year at the same phase (target: at most 1.10):

| | 5 years / 1 | 10 years / 1 |
| --- | --- | --- |
| V8 heap per member, after a snapshot | ${ratio(at(5, 'snapshot').heapPerMember, at(1, 'snapshot').heapPerMember)} | ${ratio(at(10, 'snapshot').heapPerMember, at(1, 'snapshot').heapPerMember)} |
| V8 heap per member, a generation later | ${ratio(at(5, 'generation').heapPerMember, at(1, 'generation').heapPerMember)} | ${ratio(at(10, 'generation').heapPerMember, at(1, 'generation').heapPerMember)} |
| Snapshot payload | ${ratio(at(5, 'snapshot').snapshotBytes, at(1, 'snapshot').snapshotBytes)} | ${ratio(at(10, 'snapshot').snapshotBytes, at(1, 'snapshot').snapshotBytes)} |

A member with 3 active licenses holds ${fmt(small.heapPerMember, 0)} B of heap (target 1,536 B; 2,841 B before, section "Actor runtime").
The cache's estimate is within ${fmt(Math.max(...results.map((r) => Math.abs(r.estimatePerMember / r.heapPerMember - 1))) * 100, 0)}% of the measured heap for every shape (target: 25%).
A member who downloads a title a day holds at most about ${kib(at(1, 'generation').heapPerMember)} whatever its age: the rolling year's downloads
(each with its license id, which the yearly limit's refusal shows), 30 days of released licenses, and up to a generation of newer ones
(\`snapshot.eventCount\` events) until the next snapshot prunes them. Before this change the cache estimated such a member at about
192 KiB after one year and 796 KiB after five, growing with its history.
`;
  writeResultsSection('member-state', markdown, { machine: machine(), node: process.version, results });
  process.stdout.write(markdown);
}

if (process.argv[2] === 'child') {
  child(JSON.parse(process.argv[3] ?? '{}') as Shape).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/** The storage section of bench/RESULTS.md, from one run of bench/storage-bench.ts: figures, ratios, and issue 13's targets. */
import type { TableStats } from '../cluster/cassandra/nodetool.ts';
import type { StorageResult } from './storage-bench.ts';
import { fmt } from './support.ts';

type LayoutResult = StorageResult['layouts'][number];

export interface TargetVerdict {
  target: string;
  measured: string;
  /** null: not measured in this run (the reason is in `measured`). */
  met: boolean | null;
}

const bytes = (n: number): string => Math.round(n).toLocaleString('en-US');
const kib = (n: number): string => `${fmt(n / 1024, 1)} KiB`;
const ratio = (n: number): string => `${fmt(n, 2)}×`;
const ms = (n: number): string => `${fmt(n, 2)} ms`;

/** The layout whose figures stand for a tier: a new one when the code has it, else the baseline (one keyspace for everything). */
function forTier(result: StorageResult, tier: 'hot' | 'cold'): LayoutResult | undefined {
  const candidates = result.layouts.filter((l) => l.tiers.includes(tier));
  return candidates.find((l) => !l.baseline) ?? candidates[0];
}

function yearRatio(layout: LayoutResult, field: 'bytesPerMember' | 'snapshotPayloadBytes'): { first: number; last: number; ratio: number } {
  const first = layout.years[0]?.[field] ?? NaN;
  const last = layout.years.at(-1)?.[field] ?? NaN;
  return { first, last, ratio: last / first };
}

export function storageTargets(result: StorageResult): TargetVerdict[] {
  const o = result.options;
  const hot = forTier(result, 'hot');
  const cold = forTier(result, 'cold');
  const baseline = result.layouts.find((l) => l.baseline);
  const years = result.options.years;
  const named = (l: LayoutResult): string => `\`${l.key}\``;
  const verdicts: TargetVerdict[] = [];
  const oneKeyspace = (l: LayoutResult): string => (l.baseline ? ' (no tiers yet: the one keyspace that holds everything)' : '');
  if (cold) {
    verdicts.push({
      target: 'Cold tier: ≤ 20 bytes per event on disk, correlation id included',
      measured:
        `${fmt(cold.events.bytesPerEvent, 1)} B/event, ${named(cold)}${oneKeyspace(cold)}; of which the correlation ids' random bytes alone, ` +
        `which no compressor shrinks, are ${fmt(result.commandsPerEvent * 16, 1)} B/event (${fmt(result.commandsPerEvent * o.events, 0)} commands per ${o.events} events × 16 bytes)`,
      met: cold.events.bytesPerEvent <= 20,
    });
  }
  if (hot) {
    verdicts.push({
      target: 'Hot tier: ≤ 40 bytes per event on disk',
      measured: `${fmt(hot.events.bytesPerEvent, 1)} B/event, ${named(hot)}${oneKeyspace(hot)}`,
      met: hot.events.bytesPerEvent <= 40,
    });
    const perMember = yearRatio(hot, 'bytesPerMember');
    verdicts.push({
      target: `Hot bytes per member after ${years} years ≤ 1.1× after 1 year (same rate)`,
      measured: `${ratio(perMember.ratio)} (${kib(perMember.first)} → ${kib(perMember.last)}), ${named(hot)}: no tiers yet, every event stays`,
      met: perMember.ratio <= 1.1,
    });
    const snapshot = yearRatio(hot, 'snapshotPayloadBytes');
    verdicts.push({
      target: `Snapshot bytes after ${years} years ≤ 1.1× after 1 year`,
      measured: `${ratio(snapshot.ratio)} (${kib(snapshot.first)} → ${kib(snapshot.last)} of payload)`,
      met: snapshot.ratio <= 1.1,
    });
    if (baseline && hot !== baseline) {
      const r = hot.loadEvents.mean / baseline.loadEvents.mean;
      verdicts.push({
        target: 'Cold load from hot ≤ 0.8× today’s time for the same member',
        measured: `${ratio(r)} (${ms(hot.loadEvents.mean)} ${named(hot)} vs ${ms(baseline.loadEvents.mean)} ${named(baseline)}, mean of ${hot.loadEvents.n} loads of ${hot.loadEvents.replayed} events)`,
        met: r <= 0.8,
      });
    } else {
      verdicts.push({
        target: 'Cold load from hot ≤ 0.8× today’s time for the same member',
        measured: 'not measured: the code has only today’s row layout, so there is nothing to compare it with',
        met: null,
      });
    }
  }
  return verdicts;
}

function tableRows(l: LayoutResult, tables: TableStats[], per: { label: string; divisor: number }): string[] {
  return tables.map(
    (t) =>
      `| \`${l.key}\` | ${t.table} | ${bytes(t.spaceUsedLive)} | ${t.sstableCount} | ${t.compressionRatio === null ? 'n/a' : fmt(t.compressionRatio, 3)} | ${fmt(t.spaceUsedLive / per.divisor, 1)} ${per.label} |`,
  );
}

export function storageMarkdown(result: StorageResult): string {
  const o = result.options;
  const events = o.members * o.events;
  const verdict = (met: boolean | null): string => (met === null ? 'not measured' : met ? '**met**' : '**not met**');
  const targets = storageTargets(result);
  const baseline = result.layouts.find((l) => l.baseline);
  const others = result.layouts.filter((l) => !l.baseline);
  const layoutList = result.layouts.map(
    (l) =>
      `- \`${l.key}\`: ${l.label}${l.baseline ? ' (the baseline)' : ''}; tables ${[...l.events.tables, ...l.withSnapshots.tables]
        .map((t) => t.table)
        .filter((t, i, a) => a.indexOf(t) === i)
        .join(', ')}`,
  );
  const flags = `--members ${o.members} --events ${o.events} --loads ${o.loads} --years-members ${o.yearsMembers} --years ${o.years}`;
  const comparisons =
    baseline && others.length > 0
      ? others.map(
          (l) =>
            `- \`${l.key}\` / \`${baseline.key}\`: bytes per event ${ratio(l.events.bytesPerEvent / baseline.events.bytesPerEvent)}, ` +
            `bytes per member (one year, with its snapshot) ${ratio(l.withSnapshots.bytesPerMember / baseline.withSnapshots.bytesPerMember)}, ` +
            `cold load of ${o.events} events ${ratio(l.loadEvents.mean / baseline.loadEvents.mean)}, from the snapshot ${ratio(l.loadSnapshot.mean / baseline.loadSnapshot.mean)}.`,
        )
      : [
          '- Only one row layout is in the code, so there is no new/old ratio in this run: the compact layout of issue 13 (item 4) is an entry to add to `bench/storage-layouts.ts` once it lands.',
        ];
  return `## Storage: bytes on disk, snapshots, cold loads (issue 13, item 5)

Machine: ${result.machine}; code ${result.code}; Cassandra ${result.cassandraVersion}, one local node (${result.contactPoints.join(', ')}) started by \`npm run cassandra:start\` on the same machine.
Command: \`npm run cassandra:start && npx tsx bench/storage-bench.ts ${flags}\` (${result.defaultOptions ? 'the defaults' : 'not the defaults: a quick run'}; \`npm run bench\` runs it last, flags \`--storage-members\`, ...).
Run of ${result.date}, ${fmt(result.durationS, 0)} s. All figures come from this one run; ratios compare figures of this run only.

Workload: ${o.members} members, each with a one-year history of ${o.events} events (acquire, playback, release over 3 devices and 50 titles, decided by the
domain: \`bench/histories.ts\`, the same generator as the report), a random UUID correlation id per command as the HTTP path stores, no request id.
The same histories go through each layout's event store (\`append\`, whole commands of about 12 events per append: the rows one append per command
would write, in fewer Paxos rounds) into a keyspace of its own, then \`nodetool flush\` and \`nodetool compact\` (one SSTable per table) and
\`nodetool tablestats\`, run from the node's own jars (\`cluster/cassandra/nodetool.ts\`). "Space used (live)" counts every component of the
live SSTables (data, index, bloom filter, statistics, compression offsets). The keyspaces are dropped afterwards.
Layouts measured:
${layoutList.join('\n')}

### Bytes on disk after one year (${o.members} members, ${events.toLocaleString('en-US')} events)

Events only, before any snapshot:

| Layout | Table | Space used (live), bytes | SSTables | Compression ratio | Per event |
| --- | --- | --- | --- | --- | --- |
${result.layouts
  .flatMap((l) =>
    tableRows(
      l,
      l.events.tables.filter((t) => l.eventTables.includes(t.table)),
      { label: 'B', divisor: events },
    ),
  )
  .join('\n')}

Then one snapshot per member (through \`MemberRepository.snapshot\`, which also opens generation 1):

| Layout | Table | Space used (live), bytes | SSTables | Compression ratio | Per member |
| --- | --- | --- | --- | --- | --- |
${result.layouts.flatMap((l) => tableRows(l, l.withSnapshots.tables, { label: 'B', divisor: o.members })).join('\n')}

| Layout | Bytes per event (event tables) | Bytes per member (all tables) | Snapshot payload per member | Cold load, ${o.events} events, no snapshot | Cold load from the snapshot |
| --- | --- | --- | --- | --- | --- |
${result.layouts
  .map(
    (l) =>
      `| \`${l.key}\` | ${fmt(l.events.bytesPerEvent, 1)} | ${bytes(l.withSnapshots.bytesPerMember)} | ${bytes(l.snapshotPayloadBytes)} B | ` +
      `mean ${ms(l.loadEvents.mean)}, p50 ${ms(l.loadEvents.p50)}, p99 ${ms(l.loadEvents.p99)} | mean ${ms(l.loadSnapshot.mean)}, p50 ${ms(l.loadSnapshot.p50)}, p99 ${ms(l.loadSnapshot.p99)} |`,
  )
  .join('\n')}

Cold loads: ${o.loads} members spread over the set, each loaded once per layout through \`MemberRepository.load\` (no member cache, no snapshot written by
the load), one load at a time, layouts alternating member by member (each member starting with the next layout), after ${result.warmupLoads} unmeasured warm-up loads; every layout loaded the same state.
${comparisons.join('\n')}

### ${o.years} years at the same rate (${o.yearsMembers} members, a snapshot every ${result.snapshotEvery} events as the service takes them, and one at each year's end)

| Layout | After year | Events per member | Bytes per member (all tables) | Of which event tables | Snapshot payload at the year's end |
| --- | --- | --- | --- | --- | --- |
${result.layouts.flatMap((l) => l.years.map((y) => `| \`${l.key}\` | ${y.year} | ${fmt(y.eventsPerMember, 0)} | ${bytes(y.bytesPerMember)} | ${bytes(y.eventBytesPerMember)} | ${bytes(y.snapshotPayloadBytes)} B |`)).join('\n')}

${result.layouts
  .map((l) => {
    const first = l.years[0];
    const last = l.years.at(-1);
    return first && last
      ? `\`${l.key}\`, ${last.year} years / 1 year: bytes per member ${ratio(last.bytesPerMember / first.bytesPerMember)}, year-end snapshot ${ratio(last.snapshotPayloadBytes / first.snapshotPayloadBytes)}.`
      : '';
  })
  .join('\n')}

### Targets of issue 13 (this run)

| Target | Measured | Verdict |
| --- | --- | --- |
${targets.map((t) => `| ${t.target} | ${t.measured} | ${verdict(t.met)} |`).join('\n')}

Not built yet, so not measured here: the hot and cold tiers. Each layout above is one keyspace that keeps every event and every snapshot, as
the service does today; the hot and cold figures are the rows under each tier's table options, and "hot bytes per member" is everything a member
costs in such a keyspace (no archiver drops sealed generations yet). A cold load from the cold tier is not measured either. V8 heap per cached member is measured by \`bench/member-state-bench.ts\` (section "member-state").
`;
}

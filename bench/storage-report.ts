/** The storage section of bench/RESULTS.md, from one run of bench/storage-bench.ts: figures, ratios, and issue 13's targets. */
import type { TableStats } from '../cluster/cassandra/nodetool.ts';
import type { LayoutResult, StorageResult } from './storage-bench.ts';
import { fmt } from './support.ts';

type Part = LayoutResult['parts'][number];

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
const where = (layout: LayoutResult, part: { role: string; keyspace: string }): string =>
  `\`${layout.key}\` ${part.role === 'single' ? '' : `${part.role} `}(\`${part.keyspace}\`)`;

/** The keyspace whose figures stand for a tier: that tier of a layout newer than the baseline, else such a layout's only keyspace. */
function partFor(result: StorageResult, tier: 'hot' | 'cold'): { layout: LayoutResult; part: Part } | undefined {
  for (const role of [tier, 'single'] as const) {
    for (const layout of result.layouts.filter((l) => !l.baseline)) {
      const part = layout.parts.find((p) => p.role === role);
      if (part) return { layout, part };
    }
  }
  return undefined;
}

function overYears(layout: LayoutResult, pick: (year: LayoutResult['years'][number]) => number): { first: number; last: number; ratio: number } {
  const first = layout.years[0];
  const last = layout.years.at(-1);
  const [a, b] = [first ? pick(first) : NaN, last ? pick(last) : NaN];
  return { first: a, last: b, ratio: b / a };
}

export function storageTargets(result: StorageResult): TargetVerdict[] {
  const o = result.options;
  const hot = partFor(result, 'hot');
  const cold = partFor(result, 'cold');
  const baseline = result.layouts.find((l) => l.baseline);
  const none = (what: string): TargetVerdict => ({ target: what, measured: 'not measured: no layout newer than the baseline in this run', met: null });
  const verdicts: TargetVerdict[] = [];

  const coldTarget = 'Cold tier: ≤ 20 bytes per event on disk, correlation id included';
  verdicts.push(
    cold
      ? {
          target: coldTarget,
          measured:
            `${fmt(cold.part.bytesPerEvent, 1)} B/event, ${where(cold.layout, cold.part)}; the correlation ids' random bytes alone, which no compressor shrinks, ` +
            `are ${fmt(result.commandsPerEvent * 16, 1)} B/event (${fmt(result.commandsPerEvent * o.events, 0)} commands per ${o.events} events × 16 bytes)`,
          met: cold.part.bytesPerEvent <= 20,
        }
      : none(coldTarget),
  );
  const hotTarget = 'Hot tier: ≤ 40 bytes per event on disk for the events it holds';
  verdicts.push(
    hot
      ? {
          target: hotTarget,
          measured: `${fmt(hot.part.bytesPerEvent, 1)} B/event, ${where(hot.layout, hot.part)}, which after one year still holds every event (see above)`,
          met: hot.part.bytesPerEvent <= 40,
        }
      : none(hotTarget),
  );
  const perMemberTarget = `Hot bytes per member after ${o.years} years ≤ 1.1× after 1 year (same rate)`;
  if (hot) {
    const perMember = overYears(hot.layout, (y) => y.parts.find((p) => p.role === hot.part.role)?.bytesPerMember ?? NaN);
    verdicts.push({
      target: perMemberTarget,
      measured: `${ratio(perMember.ratio)} (${kib(perMember.first)} → ${kib(perMember.last)}), ${where(hot.layout, hot.part)}`,
      met: perMember.ratio <= 1.1,
    });
    const snapshot = overYears(hot.layout, (y) => y.snapshotPayloadBytes);
    verdicts.push({
      target: `Snapshot bytes after ${o.years} years ≤ 1.1× after 1 year`,
      measured: `${ratio(snapshot.ratio)} (${kib(snapshot.first)} → ${kib(snapshot.last)} of payload), \`${hot.layout.key}\``,
      met: snapshot.ratio <= 1.1,
    });
  } else {
    verdicts.push(none(perMemberTarget));
  }
  const loadTarget = 'Cold load from hot ≤ 0.8× today’s time for the same member';
  if (hot && baseline) {
    const r = hot.layout.loadEvents.mean / baseline.loadEvents.mean;
    const fromSnapshot = hot.layout.loadSnapshot.mean / baseline.loadSnapshot.mean;
    verdicts.push({
      target: loadTarget,
      measured:
        `${ratio(r)} for ${o.events} events without a snapshot (mean ${ms(hot.layout.loadEvents.mean)} \`${hot.layout.key}\` vs ${ms(baseline.loadEvents.mean)} \`${baseline.key}\`, ` +
        `${hot.layout.loadEvents.n} loads each); ${ratio(fromSnapshot)} from the snapshot`,
      met: r <= 0.8,
    });
  } else {
    verdicts.push(none(loadTarget));
  }
  return verdicts;
}

function tableRows(layout: LayoutResult, part: Part, tables: readonly TableStats[], o: StorageResult['options']): string[] {
  return tables.map(
    (t) =>
      `| ${where(layout, part)} | ${t.table} | ${bytes(t.spaceUsedLive)} | ${t.sstableCount} | ${t.compressionRatio === null ? 'n/a' : fmt(t.compressionRatio, 3)} | ` +
      `${part.eventTables.includes(t.table) ? fmt(t.spaceUsedLive / (o.members * o.events), 1) : ''} | ${fmt(t.spaceUsedLive / o.members, 0)} |`,
  );
}

const loadCell = (l: { mean: number; p50: number; p99: number } | null | undefined): string => (l ? `mean ${ms(l.mean)}, p50 ${ms(l.p50)}, p99 ${ms(l.p99)}` : 'n/a');

export function storageMarkdown(result: StorageResult): string {
  const o = result.options;
  const events = o.members * o.events;
  const verdict = (met: boolean | null): string => (met === null ? 'not measured' : met ? '**met**' : '**not met**');
  const targets = storageTargets(result);
  const baseline = result.layouts.find((l) => l.baseline);
  const others = result.layouts.filter((l) => !l.baseline);
  const flags = `--members ${o.members} --events ${o.events} --loads ${o.loads} --years-members ${o.yearsMembers} --years ${o.years}`;
  const layoutList = result.layouts.map((l) => `- \`${l.key}\`${l.baseline ? ' (the baseline)' : ''}: ${l.label}.`);
  const comparisons =
    baseline && others.length > 0
      ? others.flatMap((l) => {
          const base = baseline.parts[0];
          if (!base) return [];
          return [
            ...l.parts.map(
              (p) =>
                `- ${where(l, p)} / \`${baseline.key}\`: bytes per event ${ratio(p.bytesPerEvent / base.bytesPerEvent)}, bytes per member (one year, with its snapshot) ${ratio(p.bytesPerMember / base.bytesPerMember)}.`,
            ),
            `- Cold loads, \`${l.key}\` / \`${baseline.key}\`: ${o.events} events without a snapshot ${ratio(l.loadEvents.mean / baseline.loadEvents.mean)}, from the snapshot ${ratio(l.loadSnapshot.mean / baseline.loadSnapshot.mean)}` +
              (l.loadFromCold ? `; from the cold tier only, from the snapshot ${ratio(l.loadFromCold.mean / baseline.loadSnapshot.mean)}.` : '.'),
          ];
        })
      : ['- Only one layout in this run: no ratio to the baseline.'];
  const loadRows = result.layouts.flatMap((l) => [
    `| \`${l.key}\`${l.parts.some((p) => p.role === 'hot') ? ' (real-time loads: hot)' : ''} | ${loadCell(l.loadEvents)} | ${loadCell(l.loadSnapshot)} |`,
    ...(l.loadFromCold
      ? [`| \`${l.key}\`, cold tier only (the fallback when hot cannot be reached) | n/a (cold holds generations once sealed) | ${loadCell(l.loadFromCold)} |`]
      : []),
  ]);
  const yearRows = result.layouts.flatMap((l) =>
    l.parts.flatMap((part) =>
      l.years.map((y) => {
        const p = y.parts.find((q) => q.role === part.role);
        return `| ${where(l, part)} | ${y.year} | ${fmt(y.eventsPerMember, 0)} | ${p ? bytes(p.bytesPerMember) : 'n/a'} | ${p ? bytes(p.eventBytesPerMember) : 'n/a'} | ${bytes(y.snapshotPayloadBytes)} B |`;
      }),
    ),
  );
  const yearRatios = result.layouts.flatMap((l) =>
    l.parts.map((part) => {
      const perMember = overYears(l, (y) => y.parts.find((p) => p.role === part.role)?.bytesPerMember ?? NaN);
      const second = l.years[1]?.parts.find((p) => p.role === part.role)?.bytesPerMember;
      const fromSecond = second !== undefined && o.years > 2 ? `; ${o.years} years / 2 years: ${ratio(perMember.last / second)}` : '';
      return `- ${where(l, part)}, ${o.years} years / 1 year: bytes per member ${ratio(perMember.ratio)}${fromSecond}.`;
    }),
  );
  const snapshotRatios = result.layouts.map(
    (l) => `- \`${l.key}\`, ${o.years} years / 1 year: snapshot at the year's end ${ratio(overYears(l, (y) => y.snapshotPayloadBytes).ratio)}.`,
  );
  const tiered = result.layouts.some((l) => l.parts.some((p) => p.role === 'hot'));
  // Where a hot tier's bytes per member go between the first and the last year, table by table.
  const hotGrowth = result.layouts.flatMap((l) =>
    l.parts
      .filter((part) => part.role === 'hot')
      .map((part) => {
        const [first, last] = [l.years[0], l.years.at(-1)].map((y) => y?.parts.find((p) => p.role === part.role));
        if (!first || !last) return '';
        const perMember = (tables: readonly TableStats[], name: string): number => (tables.find((t) => t.table === name)?.spaceUsedLive ?? 0) / o.yearsMembers;
        const names = [...new Set([...first.tables, ...last.tables].map((t) => t.table))];
        const moves = names.map((name) => `${name} ${bytes(perMember(first.tables, name))} → ${bytes(perMember(last.tables, name))}`);
        return `Where ${where(l, part)}'s bytes per member go from year 1 to year ${o.years}, by table: ${moves.join(', ')}.`;
      }),
  );
  return `## Storage: bytes on disk per tier, snapshots, cold loads (issue 13, item 5)

Machine: ${result.machine}; code ${result.code}; Cassandra ${result.cassandraVersion}, one local node (${result.contactPoints.join(', ')}) started by \`npm run cassandra:start\` on the same machine.
Command: \`npm run cassandra:start && npx tsx bench/storage-bench.ts ${flags}\` (${result.defaultOptions ? 'the defaults' : 'not the defaults: a quick run'}; \`npm run bench\` runs it last, flags \`--storage-members\`, ...).
Run of ${result.date}, ${fmt(result.durationS, 0)} s. All figures come from this one run; ratios compare figures of this run only.

Workload: ${o.members} members, each with a one-year history of ${o.events} events (acquire, playback, release over 3 devices and 50 titles, decided by the
domain: \`bench/histories.ts\`, the same generator as the report), a random UUID correlation id per command as the HTTP path stores, no request id.
The same histories go through each layout's event store (\`append\`, whole commands of about 12 events per append: the rows one append per command
would write, in fewer Paxos rounds) into keyspaces of its own; then one snapshot per member through \`MemberRepository.snapshot\` (which opens
generation 1), the layout's background work awaited (the tiered store's archiver), \`nodetool flush\` and \`nodetool compact\` of each keyspace (one
SSTable per table) and \`nodetool tablestats\`, run from the node's own jars (\`cluster/cassandra/nodetool.ts\`). "Space used (live)" counts every
component of the live SSTables (data, index, bloom filter, statistics, compression offsets). The keyspaces are dropped afterwards.
Layouts measured:
${layoutList.join('\n')}

### Bytes on disk after one year (${o.members} members, ${events.toLocaleString('en-US')} events, one snapshot each)

| Layout, keyspace | Table | Space used (live), bytes | SSTables | Compression ratio | Per event, bytes | Per member, bytes |
| --- | --- | --- | --- | --- | --- | --- |
${result.layouts.flatMap((l) => l.parts.flatMap((p) => tableRows(l, p, p.tables, o))).join('\n')}

| Layout, keyspace | Bytes per event (event tables) | Bytes per member (all tables) |
| --- | --- | --- |
${result.layouts.flatMap((l) => l.parts.map((p) => `| ${where(l, p)} | ${fmt(p.bytesPerEvent, 1)} | ${bytes(p.bytesPerMember)} |`)).join('\n')}

Snapshot payload per member after one year: ${result.layouts.map((l) => `\`${l.key}\` ${bytes(l.snapshotPayloadBytes)} B`).join(', ')}.${
    tiered
      ? `
After one year the hot tier still holds every event: the archiver copies a sealed generation to cold, but drops it from hot only once a
newer snapshot sealed the next one (hot keeps the two newest generations and the two snapshots that opened them), so after one year
hot and cold hold the same rows.`
      : ''
  }

### Cold loads (${o.loads} members, through \`MemberRepository.load\`, no member cache)

| Store | ${o.events} events, no snapshot | From the snapshot |
| --- | --- | --- |
${loadRows.join('\n')}

Each member loaded once per store, one load at a time, stores alternating member by member (each member starting with the next store), after
${result.warmupLoads} unmeasured warm-up loads; no load writes a snapshot; every store loaded the same state.
${comparisons.join('\n')}

### ${o.years} years at the same rate (${o.yearsMembers} members, a snapshot every ${result.snapshotEvery} events as the service takes them, and one at each year's end)

| Layout, keyspace | After year | Events per member | Bytes per member (all tables) | Of which event tables | Snapshot payload at the year's end |
| --- | --- | --- | --- | --- | --- |
${yearRows.join('\n')}

${[...yearRatios, ...snapshotRatios].join('\n')}
${hotGrowth.length > 0 ? `\n${hotGrowth.join('\n')}\n` : ''}
### Targets of issue 13 (this run)

| Target | Measured | Verdict |
| --- | --- | --- |
${targets.map((t) => `| ${t.target} | ${t.measured} | ${verdict(t.met)} |`).join('\n')}

Not measured here: V8 heap per cached member (\`bench/member-state-bench.ts\`, section "member-state"), throughput under sustained load
(\`bench/sustained-bench.ts\`, section "sustained").
`;
}

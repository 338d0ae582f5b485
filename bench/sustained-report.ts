/** The "sustained" section of bench/RESULTS.md from one run of bench/sustained-bench.ts: per-minute figures, targets, and what stands in the way. */
import type { LoadReport } from '../src/load/index.ts';
import type { Scrape, WorkerFigures } from './prometheus-text.ts';
import type { MemberBreakdown } from './sustained-members.ts';

export interface SustainedRun {
  startedAt: string;
  machine: string;
  /** The commit the service ran from, and whether the tree had changes. */
  code: string;
  command: string;
  durationSeconds: number;
  bucketSeconds: number;
  cacheBytesPerWorker: number;
  workers: number;
  /** The machine's 1, 5 and 15 minute load averages as the load started and as it ended (the machine is shared). */
  loadAverage: { before: number[]; after: number[] };
  /** Idle workers, after a full GC, before the load. */
  baseline: Scrape;
  scrapes: Scrape[];
  /** After the load, after a full GC. */
  end: Scrape;
  /** The hottest members, as many as the cache held at the end, loaded from the store after the run. */
  heldMembers: MemberBreakdown;
  load: LoadReport;
  loadText: string;
}

/** The issue's promise for a 16 MiB per-worker budget: 2,000 members held. */
export const PROMISED_MEMBERS = 2000;
const THROUGHPUT_RATIO_TARGET = 0.8;
const ESTIMATE_TOLERANCE = 0.25;
const MIB = 2 ** 20;

interface Bucket {
  index: number;
  fromSeconds: number;
  toSeconds: number;
  throughput: number;
  statuses: Record<string, number>;
  errorCodes: Record<string, number>;
  requests: number;
  loads: number;
  storeMs: Record<string, number>;
  workers: Record<string, WorkerFigures>;
  machineLoad: number;
}

function requestsAt(load: LoadReport, seconds: number): number {
  const points = [{ elapsedSeconds: 0, requests: 0 }, ...load.timeline];
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    if (b.elapsedSeconds >= seconds) {
      const span = b.elapsedSeconds - a.elapsedSeconds;
      return span <= 0 ? b.requests : a.requests + ((b.requests - a.requests) * (seconds - a.elapsedSeconds)) / span;
    }
  }
  return points.at(-1)!.requests;
}

function difference(later: Record<string, number>, earlier: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [key, value] of Object.entries(later)) {
    const d = value - (earlier[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

const sum = (values: Iterable<number>): number => [...values].reduce((s, v) => s + v, 0);
const loadsOf = (scrape: Scrape): number => sum(Object.values(scrape.workers).map((w) => w.loads));

/** The scrape taken after a GC closest to `seconds` (the end one when none is closer). */
function boundary(run: SustainedRun, seconds: number): Scrape {
  let best = run.end;
  for (const scrape of run.scrapes) if (scrape.afterGc && Math.abs(scrape.atSeconds - seconds) < Math.abs(best.atSeconds - seconds)) best = scrape;
  return best;
}

export function bucketsOf(run: SustainedRun): Bucket[] {
  const count = Math.max(1, Math.floor(run.load.elapsedSeconds / run.bucketSeconds + 0.01));
  const buckets: Bucket[] = [];
  let before = run.baseline;
  for (let index = 0; index < count; index++) {
    const fromSeconds = index * run.bucketSeconds;
    const toSeconds = Math.min(run.load.elapsedSeconds, fromSeconds + run.bucketSeconds);
    const after = index === count - 1 ? run.end : boundary(run, toSeconds);
    const requests = requestsAt(run.load, toSeconds) - requestsAt(run.load, fromSeconds);
    const storeMs: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [operation, now] of Object.entries(after.storeOps)) {
      const then = before.storeOps[operation] ?? { count: 0, seconds: 0 };
      if (now.count > then.count) storeMs[operation] = ((now.seconds - then.seconds) * 1000) / (now.count - then.count);
    }
    buckets.push({
      index,
      fromSeconds,
      toSeconds,
      requests,
      throughput: requests / (toSeconds - fromSeconds),
      statuses: difference(after.statuses, before.statuses),
      errorCodes: difference(after.errorCodes, before.errorCodes),
      loads: loadsOf(after) - loadsOf(before),
      storeMs,
      workers: after.workers,
      machineLoad: after.machineLoad,
    });
    before = after;
  }
  return buckets;
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number): string => (bytes / MIB).toFixed(1);
const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
const pct = (ratio: number): string => `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(0)}%`;
const workerNames = (run: SustainedRun): string[] => Object.keys(run.end.workers).sort();

function answers(statuses: Record<string, number>): string {
  const classes = { '2xx': 0, '409': 0, '429': 0, 'other 4xx': 0, '5xx': 0 };
  for (const [status, n] of Object.entries(statuses)) {
    const code = Number(status);
    if (code >= 200 && code < 300) classes['2xx'] += n;
    else if (code === 409) classes['409'] += n;
    else if (code === 429) classes['429'] += n;
    else if (code >= 400 && code < 500) classes['other 4xx'] += n;
    else classes['5xx'] += n;
  }
  return Object.entries(classes)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name} ${int(n)}`)
    .join(', ');
}

function codes(record: Record<string, number>): string {
  const entries = Object.entries(record).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code} ${int(n)}`).join(', ');
}

function perWorker(run: SustainedRun, figures: Record<string, WorkerFigures>, show: (w: WorkerFigures) => string): string {
  return workerNames(run)
    .map((name) => (figures[name] ? show(figures[name]) : '-'))
    .join(' / ');
}

interface Verdicts {
  throughput: { first: number; last: number; ratio: number; met: boolean };
  members: { perWorker: Record<string, number>; total: number; met: boolean };
  estimate: { perWorker: Record<string, { estimate: number; heapCost: number; deviation: number }>; met: boolean };
}

export function verdictsOf(run: SustainedRun, buckets: Bucket[]): Verdicts {
  const first = buckets[0]!.throughput;
  const last = buckets.at(-1)!.throughput;
  const members: Record<string, number> = {};
  const estimate: Verdicts['estimate']['perWorker'] = {};
  for (const name of workerNames(run)) {
    const end = run.end.workers[name]!;
    members[name] = end.members;
    const heapCost = end.heapUsedBytes - (run.baseline.workers[name]?.heapUsedBytes ?? 0);
    estimate[name] = { estimate: end.estimateBytes, heapCost, deviation: end.estimateBytes / heapCost - 1 };
  }
  return {
    throughput: { first, last, ratio: last / first, met: last / first >= THROUGHPUT_RATIO_TARGET },
    members: { perWorker: members, total: sum(Object.values(members)), met: Object.values(members).every((n) => n >= PROMISED_MEMBERS) },
    estimate: { perWorker: estimate, met: Object.values(estimate).every((e) => Math.abs(e.deviation) <= ESTIMATE_TOLERANCE) },
  };
}

const verdict = (met: boolean): string => (met ? 'met' : '**not met**');

/** What the metrics of the run say about each missed target. */
function obstacles(run: SustainedRun, buckets: Bucket[], verdicts: Verdicts): string[] {
  const lines: string[] = [];
  const first = buckets[0]!;
  const last = buckets.at(-1)!;
  const perHundred = (b: Bucket): string => ((100 * b.loads) / Math.max(1, b.requests)).toFixed(1);
  const perMember = (w: Record<string, WorkerFigures>): string =>
    perWorker(run, w, (f) => (f.members > 0 ? `${kib(f.estimateBytes / f.members)} KiB` : '-')) + ' (estimate per member held, per worker)';
  if (!verdicts.throughput.met) {
    lines.push(
      `Throughput fell to ${(verdicts.throughput.ratio * 100).toFixed(0)}% of the first ${run.bucketSeconds} s. Member loads from the store per 100 requests: ` +
        `${perHundred(first)} in the first bucket, ${perHundred(last)} in the last; store latency (mean ms) first ${storeLine(first)}, last ${storeLine(last)}; ` +
        `${perMember(first.workers)} at the first boundary vs ${perMember(last.workers)} at the end.`,
    );
  }
  if (!verdicts.members.met) {
    const end = run.end.workers;
    lines.push(
      `The budget of ${mib(run.cacheBytesPerWorker)} MiB per worker held ${perWorker(run, end, (f) => int(f.members))} members at the end; holding ${int(PROMISED_MEMBERS)} ` +
        `needs at most ${kib(run.cacheBytesPerWorker / PROMISED_MEMBERS)} KiB per member, and the estimate charged ${perMember(end)}. ` +
        'What they hold is above. The members of this load are minutes old, so nothing in them is old enough to leave the state (retention.ts): every request id stays for its ' +
        '24-hour dedup window, every released license for its retention (30 days by default), every download for the rolling year.',
    );
  }
  if (!verdicts.estimate.met) {
    const parts = workerNames(run).map((name) => {
      const e = verdicts.estimate.perWorker[name]!;
      const held = run.end.workers[name]!.members;
      return `${name}: heap ${kib(e.heapCost / Math.max(1, held))} KiB per member held vs estimate ${kib(e.estimate / Math.max(1, held))} KiB`;
    });
    lines.push(
      `The estimate is off by ${workerNames(run)
        .map((name) => pct(verdicts.estimate.perWorker[name]!.deviation))
        .join(' / ')}: ${parts.join('; ')}. ` +
        'The heap cost also holds what is not members (the warmed-up code, the store statements, mailboxes), which the idle baseline did not have yet.',
    );
  }
  return lines;
}

/** Pearson's r of two series of equal length (NaN when either is constant). */
function correlation(xs: number[], ys: number[]): number {
  const mx = sum(xs) / xs.length;
  const my = sum(ys) / ys.length;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** How far the per-bucket throughput follows the cache and how far it follows the rest of the machine. */
function throughputReading(buckets: Bucket[]): string {
  const throughput = buckets.map((b) => b.throughput);
  const loads = buckets.map((b) => b.loads / Math.max(1, b.requests));
  const machine = buckets.map((b) => b.machineLoad);
  const r = (ys: number[]): string => (buckets.length < 3 ? 'n/a' : correlation(throughput, ys).toFixed(2));
  return (
    `Reading the throughput: member loads per 100 requests went from ${(100 * loads[0]!).toFixed(1)} to ${(100 * loads.at(-1)!).toFixed(1)}; across the buckets, ` +
    `throughput correlates with loads per request at r = ${r(loads)} and with the machine's load average at r = ${r(machine)}. ` +
    'On a shared machine the ratio of two single buckets carries that noise.'
  );
}

function heldLine(held: MemberBreakdown): string {
  const share = (bytes: number): string => `${kib(bytes)} KiB (${((100 * bytes) / Math.max(1, held.estimateBytes)).toFixed(0)}%)`;
  return (
    `The ${int(held.members)} hottest members (Zipf ranks 0 to ${int(held.members - 1)}), loaded from the store after the run as a cache miss loads them, hold on average ` +
    `${held.licenses.toFixed(1)} licenses (${held.activeLicenses.toFixed(1)} active, ${held.releasedLicenses.toFixed(1)} released), ${held.downloads.toFixed(1)} downloads, ` +
    `${held.devices.toFixed(1)} devices and ${held.requestRecords.toFixed(1)} request records; their estimate averages ${kib(held.estimateBytes)} KiB ` +
    `(largest ${kib(held.largestEstimateBytes)} KiB), of which request records ${share(held.requestRecordBytes)} and released licenses ${share(held.releasedLicenseBytes)}.`
  );
}

function storeLine(bucket: Bucket): string {
  const entries = Object.entries(bucket.storeMs);
  return entries.length === 0 ? '-' : entries.map(([operation, ms]) => `${operation} ${ms.toFixed(2)}`).join(', ');
}

export function sustainedMarkdown(run: SustainedRun): string {
  const buckets = bucketsOf(run);
  const verdicts = verdictsOf(run, buckets);
  const names = workerNames(run);
  const scenario = run.load.scenario;
  const unit = run.bucketSeconds === 60 ? 'Minute' : `${run.bucketSeconds} s bucket`;
  const rows = buckets.map((b) =>
    [
      String(b.index + 1),
      int(b.throughput),
      answers(b.statuses) || '-',
      codes(b.errorCodes),
      ((100 * b.loads) / Math.max(1, b.requests)).toFixed(1),
      storeLine(b),
      perWorker(run, b.workers, (w) => int(w.members)),
      perWorker(run, b.workers, (w) => mib(w.estimateBytes)),
      perWorker(run, b.workers, (w) => (w.members > 0 ? kib(w.estimateBytes / w.members) : '-')),
      perWorker(run, b.workers, (w) => mib(w.heapUsedBytes)),
      b.machineLoad.toFixed(1),
    ].join(' | '),
  );
  const total = run.load.total;
  const transport = total.statuses['transport'] ?? 0;
  const estimateRows = names.map((name) => {
    const e = verdicts.estimate.perWorker[name]!;
    const w = run.end.workers[name]!;
    return `| ${name} | ${int(w.members)} | ${mib(run.baseline.workers[name]?.heapUsedBytes ?? 0)} | ${mib(w.heapUsedBytes)} | ${mib(e.heapCost)} | ${mib(e.estimate)} | ${pct(e.deviation)} |`;
  });
  const stand = obstacles(run, buckets, verdicts);
  return [
    '## Sustained load: throughput over time, members held, the cache estimate against the heap (issue 13)',
    '',
    `Machine: ${run.machine}. Service code: ${run.code}.`,
    `Command: \`${run.command}\` (${run.durationSeconds / 60} minutes).`,
    `Run of ${run.startedAt}. All figures come from this one run. Load average (1/5/15 min) ${run.loadAverage.before.map((n) => n.toFixed(1)).join('/')} as the load ` +
      `started, ${run.loadAverage.after.map((n) => n.toFixed(1)).join('/')} as it ended (2 cores shared by the service, its workers, the load generator and anything else on the machine).`,
    '',
    `Service: \`src/main.ts\` (as \`npm start\`) in its own process, SQLite store in a fresh temporary directory, config/default.json with \`cache.maxBytes\` ` +
      `${mib(run.cacheBytesPerWorker)} MiB (per worker), ${run.workers} workers (one per core), the default per-member rate limit, log level warn, ` +
      `\`--inspect=127.0.0.1:0\` used only to run a full GC in each worker before its heap is read. Load: \`npm run load\` (src/load) in another process, ` +
      `scenario \`${scenario.name}\` (config/load/sustained.json): ${Object.entries(scenario.mix)
        .map(([op, w]) => `${op} ${w}`)
        .join(', ')}; ${int(scenario.members.count)} members, Zipf ${scenario.members.zipf}, ${scenario.members.devicesPerMember} devices each, ` +
      `${scenario.titles.length} titles; ${scenario.concurrency} in flight; seed ${scenario.seed}; 127.0.0.1 only.`,
    '',
    `Totals: ${int(total.count)} requests in ${run.load.elapsedSeconds.toFixed(0)} s (${int(total.throughput)} req/s); ok ${int(total.ok)}, refused (409) ${int(total.refusals)}, ` +
      `rejected (other 4xx) ${int(total.rejected)}, errors (5xx or no answer) ${int(total.errors)}${transport ? ` (no answer: ${int(transport)})` : ''}; ` +
      `codes: ${codes(total.codes)}.`,
    '',
    `Per ${unit.toLowerCase()}: throughput from the load generator's own timeline; answers of the /v1 routes by status and decisions ended in an error by code, from ` +
      `/metrics (\`http_requests_total\`, \`decisions_total\`); member loads from the store per 100 requests (\`member_loads_total\`); mean store latency ` +
      `(\`event_store_operation_seconds\`); at the ${unit.toLowerCase()}'s end, after a full GC, per worker (${names.join(' / ')}): members held ` +
      "(`members_in_memory`), the cache estimate (`member_cache_bytes`) and V8 heap used (`nodejs_heap_size_used_bytes{worker}`); the machine's " +
      'one-minute load average then.',
    '',
    `| ${unit} | req/s | Answers | Errors by code | Loads per 100 req | Store ms (mean) | Members held | Estimate MiB | Estimate per member KiB | Heap used MiB | Load avg |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row} |`),
    '',
    `Cache estimate against the heap it costs, at the end (after the load, after a full GC); heap cost = heap used minus the same worker's idle heap before the load:`,
    '',
    '| Worker | Members held | Idle heap MiB | Heap used MiB | Heap cost MiB | Estimate MiB | Estimate vs cost |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...estimateRows,
    '',
    heldLine(run.heldMembers),
    '',
    throughputReading(buckets),
    '',
    '### Targets (this run)',
    '',
    '| Target | Measured | Verdict |',
    '| --- | --- | --- |',
    `| Throughput, last ${unit.toLowerCase()} ≥ 0.8 × the first | ${int(verdicts.throughput.first)} → ${int(verdicts.throughput.last)} req/s: ${verdicts.throughput.ratio.toFixed(2)}× | ${verdict(verdicts.throughput.met)} |`,
    `| The ${mib(run.cacheBytesPerWorker)} MiB per-worker budget holds ${int(PROMISED_MEMBERS)} members (held per worker at the end) | ${names
      .map((name) => int(verdicts.members.perWorker[name]!))
      .join(' / ')} (${int(verdicts.members.total)} in all) | ${verdict(verdicts.members.met)} |`,
    `| Cache estimate within ±25% of the heap it costs, each worker | ${names.map((name) => pct(verdicts.estimate.perWorker[name]!.deviation)).join(' / ')} | ${verdict(verdicts.estimate.met)} |`,
    ...(stand.length > 0 ? ['', 'What stands in the way, from the metrics of this run:', '', ...stand.map((line) => `- ${line}`)] : []),
  ].join('\n');
}

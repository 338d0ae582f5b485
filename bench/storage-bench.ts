/**
 * The storage section of the benchmark (issue 13, item 5). For each row layout of
 * bench/storage-layouts.ts, in keyspaces of its own on the local Cassandra (dropped afterwards):
 *   1. writes the same realistic histories (bench/histories.ts: `--members` members × a one-year
 *      history of `--events` events, a random correlation id per command as the HTTP path
 *      stores) through the layout's event store, then flushes and compacts the keyspace and reads
 *      the bytes on disk per table from Cassandra's own statistics (nodetool tablestats, run from
 *      the node's jars: cluster/cassandra/nodetool.ts);
 *   2. times cold loads of `--loads` members through MemberRepository (no member cache): the
 *      year's events without a snapshot, then from a snapshot written through the repository;
 *   3. writes `--years` years at the same rate for `--years-members` members, snapshotting as the
 *      service does (every snapshot.eventCount events), and reads the bytes per member and the
 *      newest snapshot's size after each year.
 * Writes bench/RESULTS.md (section "storage") and bench/results/storage.json.
 * Run: npm run cassandra:start && npx tsx bench/storage-bench.ts [--members 2000 --events 200 --loads 200 --years-members 100 --years 5]
 * (also the last section of `npm run bench`, whose flags for it are --storage-members, ...).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import cassandra from 'cassandra-driver';
import { compact, flush, tableStats, type TableStats } from '../cluster/cassandra/nodetool.ts';
import { cassandraContactPointsFrom, parseConfig } from '../src/config/load.ts';
import { applyEvent, initialMemberState } from '../src/domain/member/state.ts';
import { MemberRepository, type LoadedMember } from '../src/service/member-repository.ts';
import type { CassandraSettings } from '../src/store/cassandra/cassandra-event-store.ts';
import { encodeEvent } from '../src/store/codec/event-codec.ts';
import { encodeMemberState } from '../src/store/codec/snapshot-codec.ts';
import { EMPTY_HEAD, type EventStore } from '../src/store/event-store.ts';
import { groupIntoAppends, memberHistory, type HistoryCommand } from './histories.ts';
import { LAYOUTS, type LayoutPart, type Role, type StorageLayout } from './storage-layouts.ts';
import { storageMarkdown } from './storage-report.ts';
import { fmt, machine, numericArg, summarize, UNLIMITED_RULES, writeResultsSection } from './support.ts';

const RULES = UNLIMITED_RULES;
const KEYSPACE_PREFIX = 'storage_bench';
const WARMUP_LOADS = 5;
const SEED_CONCURRENCY = 32;

export interface StorageOptions {
  members: number;
  events: number;
  loads: number;
  yearsMembers: number;
  years: number;
}

/** The issue's data set: 2,000 members × a one-year history of 200 events. */
export const STORAGE_DEFAULTS: StorageOptions = { members: 2000, events: 200, loads: 200, yearsMembers: 100, years: 5 };

/** The options from the command line; `prefix` is "storage-" inside `npm run bench`. */
export function storageOptions(argv: readonly string[], prefix = ''): StorageOptions {
  const arg = (name: string, fallback: number): number => {
    const value = numericArg(`${prefix}${name}`, fallback, argv);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${prefix}${name} must be a positive integer`);
    return value;
  };
  const d = STORAGE_DEFAULTS;
  const options = {
    members: arg('members', d.members),
    events: arg('events', d.events),
    loads: arg('loads', d.loads),
    yearsMembers: arg('years-members', d.yearsMembers),
    years: arg('years', d.years),
  };
  if (options.loads + WARMUP_LOADS > options.members)
    throw new Error(`--${prefix}loads must leave ${WARMUP_LOADS} members for warm-up loads (at most --${prefix}members - ${WARMUP_LOADS})`);
  return options;
}

function settingsFor(keyspace: string): CassandraSettings {
  const config = parseConfig({ service: { store: 'cassandra', cassandra: { keyspace } }, rules: RULES }, null);
  return { ...config.service.cassandra, contactPoints: cassandraContactPointsFrom(process.env) ?? config.service.cassandra.contactPoints };
}

/** The service's own snapshot rule: a snapshot once this many events were appended since the last. */
const SNAPSHOT_EVERY = parseConfig({ service: {}, rules: RULES }, null).service.snapshot.eventCount;

/** Never snapshots by itself: the bench decides when snapshots are written. */
const NO_AUTOMATIC_SNAPSHOTS = { eventCount: Number.MAX_SAFE_INTEGER, replayMs: Number.MAX_SAFE_INTEGER };

/** The commit measured, and whether the code it runs differs from it. */
function codeVersion(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'cluster', 'bench/*.ts'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${commit} with uncommitted changes in src/, cluster/ or bench/` : commit;
  } catch {
    return 'unknown';
  }
}

async function inParallel<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

// ---- writing histories through a layout's store ----

/** A member being written: its history, how far it got, and its state as the repository holds it. */
interface Writer {
  member: LoadedMember;
  commands: readonly HistoryCommand[];
  next: number;
  events: number;
}

/**
 * Appends each member's commands until it has `eventsTarget` events, with whole commands per
 * append (bench/histories.ts), applying them to its state as MemberRepository.append does; with
 * `snapshotEvery`, a snapshot through the repository once that many events were appended since
 * the last, as the service does.
 */
async function appendUntil(
  store: EventStore,
  repository: MemberRepository,
  writers: readonly Writer[],
  eventsTarget: number,
  snapshotEvery: number | null,
): Promise<{ appends: number; ms: number }> {
  const started = performance.now();
  let appends = 0;
  await inParallel(writers, SEED_CONCURRENCY, async (writer) => {
    const slice: HistoryCommand[] = [];
    let events = writer.events;
    while (writer.next < writer.commands.length && events < eventsTarget) {
      const command = writer.commands[writer.next++] as HistoryCommand;
      slice.push(command);
      events += command.events.length;
    }
    for (const { rows, commands } of groupIntoAppends(slice, encodeEvent)) {
      const { member } = writer;
      member.head = await store.append(member.memberId, member.head, rows);
      appends += 1;
      for (const command of commands) for (const event of command.events) applyEvent(member.state, event, command.metadata);
      member.eventsSinceSnapshot += rows.length;
      writer.events += rows.length;
      if (snapshotEvery !== null && member.eventsSinceSnapshot >= snapshotEvery) await repository.snapshot(member, { rethrow: true });
    }
  });
  return { appends, ms: performance.now() - started };
}

function writersFor(histories: ReadonlyMap<string, readonly HistoryCommand[]>): Writer[] {
  return [...histories].map(([memberId, commands]) => ({
    member: { memberId, state: initialMemberState(), head: EMPTY_HEAD, eventsSinceSnapshot: 0, replayMs: 0, fence: null, owner: null },
    commands,
    next: 0,
    events: 0,
  }));
}

// ---- measuring ----

interface PartFigures {
  role: Role;
  keyspace: string;
  tables: TableStats[];
  eventTables: readonly string[];
  /** Sum of the part's event tables' live space. */
  eventBytes: number;
  /** Sum of every table's live space in the keyspace: everything its members cost there. */
  allBytes: number;
}

/** Flushes and compacts each keyspace of the layout, then reads its tables' statistics. */
async function onDisk(parts: readonly LayoutPart[]): Promise<PartFigures[]> {
  const figures: PartFigures[] = [];
  for (const part of parts) {
    await flush(part.keyspace);
    await compact(part.keyspace);
    const tables = (await tableStats(part.keyspace)).filter((t) => t.spaceUsedLive > 0 || [...part.events, ...part.snapshots].includes(t.table));
    const eventBytes = tables.filter((t) => part.events.includes(t.table)).reduce((sum, t) => sum + t.spaceUsedLive, 0);
    figures.push({ role: part.role, keyspace: part.keyspace, tables, eventTables: part.events, eventBytes, allBytes: tables.reduce((sum, t) => sum + t.spaceUsedLive, 0) });
  }
  return figures;
}

/** The newest snapshot's payload of each member, in UTF-8 bytes, read back through the store. */
async function snapshotBytes(store: EventStore, memberIds: readonly string[]): Promise<number> {
  let total = 0;
  await inParallel(memberIds, SEED_CONCURRENCY, async (memberId) => {
    const snapshot = await store.readLatestSnapshot(memberId);
    if (!snapshot) throw new Error(`member ${memberId} has no snapshot`);
    total += Buffer.byteLength(snapshot.payload);
  });
  return total / memberIds.length;
}

type Loads = ReturnType<typeof summarize> & { replayed: number };

/**
 * Loads each sampled member once per store, one load at a time, alternating stores (each member
 * starting with the next one) so the machine's noise falls on all of them alike; after a few
 * unmeasured warm-up loads. The states loaded must be the same from every store.
 */
async function coldLoads(stores: ReadonlyMap<string, EventStore>, sample: readonly string[], warmup: readonly string[], expectReplayed: number): Promise<Map<string, Loads>> {
  const repositories = [...stores].map(([key, store]) => [key, new MemberRepository(store, NO_AUTOMATIC_SNAPSHOTS)] as const);
  const times = new Map([...stores.keys()].map((key) => [key, [] as number[]]));
  for (const [index, memberId] of [...warmup, ...sample].entries()) {
    const states = new Set<string>();
    const turn = index % repositories.length;
    for (const [key, repository] of [...repositories.slice(turn), ...repositories.slice(0, turn)]) {
      const started = performance.now();
      const loaded = await repository.load(memberId);
      const ms = performance.now() - started;
      if (loaded.eventsSinceSnapshot !== expectReplayed)
        throw new Error(`${key}: the load of ${memberId} replayed ${loaded.eventsSinceSnapshot} events, expected ${expectReplayed}`);
      states.add(encodeMemberState(loaded.state));
      if (index >= warmup.length) times.get(key)?.push(ms);
    }
    if (states.size !== 1) throw new Error(`member ${memberId} loads differently from the stores`);
  }
  return new Map([...times].map(([key, list]) => [key, { ...summarize(list), replayed: expectReplayed }]));
}

// ---- the run ----

export interface LayoutResult {
  key: string;
  label: string;
  baseline: boolean;
  seeding: { appends: number; ms: number };
  /** After the year's events and one snapshot per member, the layout's background work done. */
  parts: (PartFigures & { bytesPerEvent: number; bytesPerMember: number })[];
  snapshotPayloadBytes: number;
  /** The year's events, no snapshot yet. */
  loadEvents: Loads;
  /** From the snapshot that covers them. */
  loadSnapshot: Loads;
  /** The same, read from the cold tier only (layouts with one). */
  loadFromCold: Loads | null;
  years: {
    year: number;
    eventsPerMember: number;
    /** The snapshot taken at the end of the year, read back: UTF-8 bytes of payload, mean. */
    snapshotPayloadBytes: number;
    parts: { role: Role; keyspace: string; bytesPerMember: number; eventBytesPerMember: number; tables: TableStats[] }[];
  }[];
}

export interface StorageResult {
  date: string;
  durationS: number;
  machine: string;
  code: string;
  cassandraVersion: string;
  contactPoints: string[];
  options: StorageOptions;
  /** Commands per event in the histories: each carries a 16-byte random correlation id. */
  commandsPerEvent: number;
  /** Whether the options are the defaults (the issue's data set). */
  defaultOptions: boolean;
  snapshotEvery: number;
  warmupLoads: number;
  layouts: LayoutResult[];
}

const COLD = ':cold';

export async function storageBench(options: StorageOptions, log: (message: string) => void = console.log): Promise<StorageResult> {
  const startedAt = new Date();
  const runId = randomUUID().slice(0, 6);
  const contactPoints = settingsFor(KEYSPACE_PREFIX).contactPoints;
  const client = new cassandra.Client({ contactPoints, localDataCenter: settingsFor(KEYSPACE_PREFIX).localDataCenter });
  await client.connect();
  const cassandraVersion = String((await client.execute('SELECT release_version FROM system.local')).first()?.['release_version'] ?? 'unknown');
  const base = (layout: StorageLayout, years: boolean): string => `${KEYSPACE_PREFIX}_${layout.key}${years ? '_years' : ''}`;
  const keyspaces = LAYOUTS.flatMap((layout) => [false, true].flatMap((years) => layout.parts(settingsFor(base(layout, years))).map((part) => part.keyspace)));
  const dropAll = async (): Promise<void> => {
    for (const keyspace of keyspaces) await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  };
  const stores = new Map<string, EventStore>();
  try {
    await dropAll(); // a run stopped half-way leaves its keyspaces
    const end = Date.now();
    log(`storage: ${options.members} members × ${options.events} events, ${LAYOUTS.length} layout(s): ${LAYOUTS.map((l) => l.key).join(', ')} (run ${runId})`);
    const histories = new Map(
      Array.from({ length: options.members }, (_, i) => `st-${runId}-m${i}`).map((id) => [
        id,
        memberHistory(id, { events: options.events, days: 364, end, rules: RULES, correlationIds: true }),
      ]),
    );
    const memberIds = [...histories.keys()];
    const commands = [...histories.values()].reduce((sum, list) => sum + list.length, 0);
    const results = new Map<string, Partial<LayoutResult>>();
    const writers = new Map<string, Writer[]>();

    for (const layout of LAYOUTS) {
      const store = await layout.open(settingsFor(base(layout, false)));
      stores.set(layout.key, store);
      const layoutWriters = writersFor(histories);
      writers.set(layout.key, layoutWriters);
      const seeding = await appendUntil(store, new MemberRepository(store, NO_AUTOMATIC_SNAPSHOTS), layoutWriters, options.events, null);
      log(`storage: ${layout.key}: ${options.members * options.events} events in ${seeding.appends} appends, ${fmt(seeding.ms / 1000)} s`);
      results.set(layout.key, { key: layout.key, label: layout.label, baseline: layout.baseline === true, seeding });
    }

    // Spread over the members; the warm-up loads use others.
    const stride = Math.floor(options.members / (options.loads + WARMUP_LOADS));
    const picked = Array.from({ length: options.loads + WARMUP_LOADS }, (_, i) => memberIds[i * stride] as string);
    const [warmup, sample] = [picked.slice(0, WARMUP_LOADS), picked.slice(WARMUP_LOADS)];
    log(`storage: cold loads of ${sample.length} members, ${options.events} events each, no snapshot`);
    const loadEvents = await coldLoads(stores, sample, warmup, options.events);

    const loadStores = new Map(stores);
    for (const layout of LAYOUTS) {
      const store = stores.get(layout.key) as EventStore;
      const repository = new MemberRepository(store, NO_AUTOMATIC_SNAPSHOTS);
      await inParallel(writers.get(layout.key) ?? [], SEED_CONCURRENCY, async ({ member }) => {
        if (!(await repository.snapshot(member, { rethrow: true }))) throw new Error(`no snapshot of ${member.memberId}`);
      });
      await layout.settle?.(store, memberIds);
      log(`storage: ${layout.key}: a snapshot per member${layout.settle ? ', settled' : ''}; flush and compact`);
      const events = options.members * options.events;
      const parts = (await onDisk(layout.parts(settingsFor(base(layout, false))))).map((part) => ({
        ...part,
        bytesPerEvent: part.eventBytes / events,
        bytesPerMember: part.allBytes / options.members,
      }));
      Object.assign(results.get(layout.key) ?? {}, { parts, snapshotPayloadBytes: await snapshotBytes(store, memberIds), loadEvents: loadEvents.get(layout.key) });
      if (layout.coldReader) loadStores.set(`${layout.key}${COLD}`, layout.coldReader(store));
    }
    log(`storage: cold loads of the same members from their snapshot`);
    const loadSnapshot = await coldLoads(loadStores, sample, warmup, 0);
    for (const layout of LAYOUTS) {
      Object.assign(results.get(layout.key) ?? {}, { loadSnapshot: loadSnapshot.get(layout.key), loadFromCold: loadSnapshot.get(`${layout.key}${COLD}`) ?? null });
    }
    writers.clear();

    // Years at the same rate, fewer members: snapshots as the service takes them.
    const yearsHistories = new Map(
      Array.from({ length: options.yearsMembers }, (_, i) => `st-${runId}-y${i}`).map((id) => [
        id,
        memberHistory(id, { events: options.events * options.years, days: 364 * options.years, end, rules: RULES, correlationIds: true }),
      ]),
    );
    const yearsIds = [...yearsHistories.keys()];
    for (const layout of LAYOUTS) {
      const settings = settingsFor(base(layout, true));
      const store = await layout.open(settings);
      try {
        const repository = new MemberRepository(store, NO_AUTOMATIC_SNAPSHOTS);
        const layoutWriters = writersFor(yearsHistories);
        const years: LayoutResult['years'] = [];
        for (let year = 1; year <= options.years; year++) {
          await appendUntil(store, repository, layoutWriters, options.events * year, SNAPSHOT_EVERY);
          // And one at the year's end, so every year's figures hold a snapshot of the same moment
          // (the service's own rule may have left up to a year's events since the last one).
          await inParallel(layoutWriters, SEED_CONCURRENCY, async ({ member }) => {
            if (member.eventsSinceSnapshot > 0) await repository.snapshot(member, { rethrow: true });
          });
          await layout.settle?.(store, yearsIds);
          const parts = await onDisk(layout.parts(settings));
          years.push({
            year,
            eventsPerMember: layoutWriters.reduce((sum, w) => sum + w.events, 0) / layoutWriters.length,
            snapshotPayloadBytes: await snapshotBytes(store, yearsIds),
            parts: parts.map((part) => ({
              role: part.role,
              keyspace: part.keyspace,
              bytesPerMember: part.allBytes / options.yearsMembers,
              eventBytesPerMember: part.eventBytes / options.yearsMembers,
              tables: part.tables,
            })),
          });
          log(
            `storage: ${layout.key}: year ${year} of ${options.yearsMembers} members: ${parts.map((p) => `${p.role} ${fmt(p.allBytes / options.yearsMembers, 0)}`).join(', ')} bytes per member`,
          );
        }
        Object.assign(results.get(layout.key) ?? {}, { years });
      } finally {
        await store.close();
      }
    }

    return {
      date: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      machine: machine(),
      code: codeVersion(),
      cassandraVersion,
      contactPoints,
      options,
      commandsPerEvent: commands / (options.members * options.events),
      defaultOptions: Object.entries(options).every(([key, value]) => STORAGE_DEFAULTS[key as keyof StorageOptions] === value),
      snapshotEvery: SNAPSHOT_EVERY,
      warmupLoads: WARMUP_LOADS,
      layouts: LAYOUTS.map((layout) => results.get(layout.key) as LayoutResult),
    };
  } finally {
    for (const store of stores.values()) await store.close().catch(() => {});
    await dropAll().catch((error: unknown) => console.error(`storage: could not drop ${keyspaces.join(', ')}: ${String(error)}`));
    await client.shutdown();
  }
}

/** Runs the section and writes it into bench/RESULTS.md (section "storage") and bench/results/storage.json. */
export async function runStorageSection(options: StorageOptions, log?: (message: string) => void): Promise<StorageResult> {
  const result = await storageBench(options, log);
  const markdown = storageMarkdown(result);
  writeResultsSection('storage', markdown, result);
  console.log(markdown);
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  runStorageSection(storageOptions(process.argv.slice(2)), (message) => console.log(`[storage +${((Date.now() - started) / 1000).toFixed(0)}s] ${message}`)).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

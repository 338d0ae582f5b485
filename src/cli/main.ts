/**
 * The operator CLI, `license-accounting <command>`. It works against the configured event store
 * directly (`--config` like the service, else LICENSE_CONFIG, else config/default.json), with
 * or without the HTTP service running:
 *
 *   dump <memberId> [--aggregate A] [--aggregate-id I] [--from ISO] [--to ISO]   NDJSON history
 *   explain <memberId> --title T --device D [--at ISO] [--plan P] [--rules-version V]
 *   replay --check [--against-legacy]
 *                         rebuild every member from events, compare with its latest snapshot;
 *                         --against-legacy: also rebuild every member of the previous Cassandra
 *                         layout from its old rows and from its copy, and compare
 *   migrate               copy a Cassandra keyspace from the previous row layout into the compact one
 *   snapshot <memberId>   snapshot the member now
 *   repair <memberId> [--void <generation>:<position> --reason <text>]
 *                         list the rows the fold cannot use; with --void, append a void for one
 *
 * Times (--at, --from, --to) must lie between 1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
 * Exit codes: 0 done, 1 failure (or mismatches found by replay --check), 2 bad usage or config.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/types.ts';
import { isId } from '../domain/ids.ts';
import { iso } from '../domain/time.ts';
import { eventLines, explainAt, type EventFilter } from '../service/history.ts';
import { MemberRepository } from '../service/member-repository.ts';
import type { EventStore } from '../store/event-store.ts';
import { openEventStore } from '../store/open-store.ts';
import { debugReaderOf } from '../store/read-purpose.ts';
import { tierSettings } from '../store/cassandra/tiers/tier-settings.ts';
import { isRepresentable, MAX_ISO, MIN_ISO } from '../domain/time-range.ts';
import { progressBar } from './progress.ts';
import { listUnusableRows, parseVoidTarget, voidRow } from './repair.ts';
import { compareWithLegacy, migrate } from './migrate.ts';
import { checkMember } from './replay-check.ts';

const USAGE = `usage: license-accounting [--config <path>] <command>
  dump <memberId> [--aggregate license|downloaded|device] [--aggregate-id <id>] [--from <ISO>] [--to <ISO>]
  explain <memberId> --title <titleId> --device <deviceId> [--at <ISO>] [--plan <plan>] [--rules-version <v>]
  replay --check [--against-legacy]
  migrate
  snapshot <memberId>
  repair <memberId> [--void <generation>:<position> --reason <text>]`;

class UsageError extends Error {}

const OPTIONS = {
  config: { type: 'string' },
  title: { type: 'string' },
  device: { type: 'string' },
  at: { type: 'string' },
  plan: { type: 'string' },
  'rules-version': { type: 'string' },
  aggregate: { type: 'string' },
  'aggregate-id': { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  check: { type: 'boolean' },
  'against-legacy': { type: 'boolean' },
  void: { type: 'string' },
  reason: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function instant(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  if (!Number.isFinite(at)) throw new UsageError(`--${flag} must be an ISO-8601 time, got "${value}"`);
  if (!isRepresentable(at)) throw new UsageError(`--${flag} must be between ${MIN_ISO} and ${MAX_ISO}, got "${value}"`);
  return at;
}

function memberArg(positionals: string[]): string {
  const memberId = positionals[1];
  if (memberId === undefined || !isId(memberId)) throw new UsageError('a member id is required');
  return memberId;
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

async function dump(store: EventStore, memberId: string, filter: EventFilter): Promise<number> {
  for await (const line of eventLines(store, memberId, filter)) await write(`${line}\n`);
  return 0;
}

async function replayCheck(store: EventStore): Promise<number> {
  const tty = process.stderr.isTTY === true;
  // The bar needs a total: count first (partition keys only), and only when someone watches.
  let total = 0;
  if (tty) for await (const _ of store.listMembers()) total += 1;
  const bar = progressBar(process.stderr, total, 'replay --check');
  const counts = { members: 0, match: 0, 'no-snapshot': 0, mismatch: 0, error: 0 };
  for await (const memberId of store.listMembers()) {
    const result = await checkMember(store, memberId);
    counts.members += 1;
    counts[result.outcome] += 1;
    if (result.outcome === 'mismatch') {
      bar.tick(counts.members);
      await write(`MISMATCH ${memberId} snapshot generation ${result.generation} at position ${result.position}:\n`);
      for (const difference of result.differences) await write(`  ${difference}\n`);
    }
    if (result.outcome === 'error') await write(`ERROR ${memberId}: ${result.message}\n`);
    bar.tick(counts.members, counts.mismatch + counts.error > 0 ? `${counts.mismatch + counts.error} problem(s)` : '');
  }
  bar.done();
  await write(
    `checked ${counts.members} member(s): ${counts.match} snapshot(s) match, ${counts.mismatch} mismatch(es), ${counts.error} error(s), ${counts['no-snapshot']} without a snapshot\n`,
  );
  return counts.mismatch + counts.error > 0 ? 1 : 0;
}

async function snapshot(store: EventStore, memberId: string, releasedLicenseRetentionDays: number): Promise<number> {
  let failure: unknown = null;
  // No automatic snapshots while loading: this command decides. It prunes as the service does.
  const thresholds = { eventCount: Number.POSITIVE_INFINITY, replayMs: Number.POSITIVE_INFINITY, releasedLicenseRetentionDays };
  const repository = new MemberRepository(store, thresholds, (_, error) => (failure = error));
  const member = await repository.load(memberId);
  if (member.head.position === 0) {
    process.stderr.write(`license-accounting: member ${memberId} has no events\n`);
    return 1;
  }
  if (member.eventsSinceSnapshot === 0) {
    await write(`${JSON.stringify({ memberId, snapshot: 'unchanged', generation: member.head.generation, position: member.head.position })}\n`);
    return 0;
  }
  const covered = member.eventsSinceSnapshot;
  if (!(await repository.snapshot(member))) {
    process.stderr.write(`license-accounting: snapshot of ${memberId} failed: ${(failure as Error | null)?.message ?? 'unknown'}\n`);
    return 1;
  }
  await write(
    `${JSON.stringify({ memberId, snapshot: 'written', generation: member.head.generation, position: member.head.position, takenAt: iso(member.state.lastEventAt), eventsCovered: covered })}\n`,
  );
  return 0;
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (!['dump', 'explain', 'replay', 'snapshot', 'repair', 'migrate'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (command === 'replay' && !values.check) throw new UsageError('replay needs --check (it only checks; it never rewrites snapshots)');
  // Validate everything before opening the store.
  if (values['against-legacy'] && command !== 'replay') throw new UsageError('--against-legacy belongs to replay --check');
  const memberId = command === 'replay' || command === 'migrate' ? '' : memberArg(positionals);
  const filter: EventFilter = {
    aggregate: values.aggregate,
    aggregateId: values['aggregate-id'],
    from: instant(values.from, 'from'),
    to: instant(values.to, 'to'),
  };
  const at = instant(values.at, 'at');
  if (values.aggregate !== undefined && !['license', 'downloaded', 'device'].includes(values.aggregate)) {
    throw new UsageError(`--aggregate must be license, downloaded or device, got "${values.aggregate}"`);
  }
  if (command === 'explain' && (values.title === undefined || values.device === undefined)) throw new UsageError('explain needs --title and --device');
  if ((values.void !== undefined || values.reason !== undefined) && command !== 'repair') throw new UsageError('--void and --reason belong to repair');
  const target = values.void === undefined ? null : parseVoidTarget(values.void);
  if (values.void !== undefined && target === null) throw new UsageError(`--void must be <generation>:<position> (as dump shows them), got "${values.void}"`);
  if (target !== null && (values.reason === undefined || values.reason.trim().length === 0 || values.reason.length > 500)) {
    throw new UsageError('--void needs --reason <text> (1 to 500 characters): the void keeps it for the audit trail');
  }

  const config: Config = loadConfig({ argv: values.config === undefined ? [] : ['--config', values.config], env: process.env });
  if ((command === 'migrate' || values['against-legacy']) && config.service.store !== 'cassandra') {
    await write(`the ${config.service.store} store has one row layout: nothing to migrate or compare\n`);
    return 0;
  }
  // Before the store opens: the service's store refuses a keyspace that is not migrated yet.
  // The keyspace to migrate is the hot tier's (the one the service writes; cold is filled by the archiver).
  if (command === 'migrate') return await migrate(tierSettings(config.service.cassandra, 'hot'), write);
  const store = await openEventStore(config.service);
  // dump, explain and replay --check read by purpose: the whole history, from the cold tier
  // first (docs/storage.md#reads-by-purpose); repair and snapshot write, through hot.
  const history = debugReaderOf(store);
  try {
    switch (command) {
      case 'dump':
        return await dump(history, memberId, filter);
      case 'explain': {
        const answer = await explainAt(
          { store: history, rules: () => config.rules },
          memberId,
          { deviceId: values.device ?? '', titleId: values.title ?? '', plan: values.plan },
          at ?? Date.now(),
          values['rules-version'],
        );
        await write(`${JSON.stringify(answer, null, 2)}\n`);
        return 0;
      }
      case 'replay': {
        const checked = await replayCheck(history);
        return values['against-legacy'] ? Math.max(checked, await compareWithLegacy(history, tierSettings(config.service.cassandra, 'hot'), write)) : checked;
      }
      case 'repair': {
        const output =
          target === null
            ? await listUnusableRows(store, memberId)
            : await voidRow(store, memberId, target, { reason: values.reason ?? '', rulesVersion: config.rules.version, now: Date.now });
        for (const line of output.lines) await write(`${JSON.stringify(line)}\n`);
        if (output.problem !== null) process.stderr.write(`license-accounting: ${output.problem}\n`);
        return output.exitCode;
      }
      default:
        return await snapshot(store, memberId, config.service.retention.releasedLicenseDays);
    }
  } finally {
    await store.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`license-accounting: ${error.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (error instanceof ConfigError) {
      process.stderr.write(`license-accounting: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`license-accounting: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);

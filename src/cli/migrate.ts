/**
 * `migrate` (copy a Cassandra keyspace from the previous row layout into the compact one) and
 * `replay --check --against-legacy` (every member of the previous layout rebuilt from both).
 * docs/operations.md#migrating-to-compact-rows says when and how to run them.
 */
import type { ServiceConfig } from '../config/types.ts';
import type { EventStore } from '../store/event-store.ts';
import { progressBar } from './progress.ts';
import { compareLayouts } from './layout-compare.ts';

type Write = (text: string) => Promise<void>;

/** The migration; exit code 0 when the keyspace is (or already was) completely migrated. */
export async function migrate(settings: ServiceConfig['cassandra'], write: Write): Promise<number> {
  const { LayoutMigration } = await import('../store/cassandra/layout-migration.ts');
  const migration = await LayoutMigration.connect(settings);
  try {
    const tty = process.stderr.isTTY === true;
    const total = tty ? await migration.countMembers() : 0;
    const bar = progressBar(process.stderr, total, 'migrate');
    const report = await migration.run({
      onMember(done, outcome) {
        if (outcome.outcome === 'problem') void write(`PROBLEM ${outcome.memberId}: ${outcome.message}\n`);
        bar.tick(done);
      },
    });
    bar.done();
    await write(`${JSON.stringify({ keyspace: settings.keyspace, ...report })}\n`);
    switch (report.state) {
      case 'complete':
        await write(`migrated ${report.members} member(s): ${report.copied} copied (${report.events} events, ${report.snapshots} snapshots), ${report.unchanged} already copied\n`);
        return 0;
      case 'already-complete':
        await write(`keyspace ${settings.keyspace} is already migrated (${report.members} member(s)); nothing written\n`);
        return 0;
      case 'nothing-to-migrate':
        await write(`keyspace ${settings.keyspace} has no events in the previous layout; nothing to migrate\n`);
        return 0;
      default:
        await write(
          report.changedMeanwhile > 0
            ? `incomplete: ${report.changedMeanwhile} member(s) changed in the previous layout during the run (is a service of the previous version still running?); stop it and run migrate again\n`
            : `incomplete: ${report.problems.length} member(s) could not be migrated (listed above); run migrate again once fixed\n`,
        );
        return 1;
    }
  } finally {
    await migration.close();
  }
}

/** Every member of the previous layout, rebuilt from its old rows and from its copy; exit 1 on any difference. */
export async function compareWithLegacy(store: EventStore, settings: ServiceConfig['cassandra'], write: Write): Promise<number> {
  const { connectLegacyStore } = await import('../store/cassandra/legacy/legacy-store.ts');
  const legacy = await connectLegacyStore(settings, { applySchema: false });
  try {
    const tty = process.stderr.isTTY === true;
    let total = 0;
    if (tty) for await (const _ of legacy.listMembers()) total += 1;
    const bar = progressBar(process.stderr, total, 'replay --check --against-legacy');
    const counts = { members: 0, identical: 0, different: 0, error: 0 };
    for await (const memberId of legacy.listMembers()) {
      const result = await compareLayouts(legacy, store, memberId);
      counts.members += 1;
      counts[result.outcome] += 1;
      if (result.outcome === 'different') {
        await write(`DIFFERENT ${memberId}:\n`);
        for (const difference of result.differences) await write(`  ${difference}\n`);
      }
      if (result.outcome === 'error') await write(`ERROR ${memberId}: ${result.message}\n`);
      bar.tick(counts.members);
    }
    bar.done();
    await write(`compared ${counts.members} member(s) with the previous layout: ${counts.identical} identical, ${counts.different} different, ${counts.error} error(s)\n`);
    return counts.different + counts.error > 0 ? 1 : 0;
  } finally {
    await legacy.close();
  }
}

/**
 * A member's state does not grow with its history (domain/member/retention.ts): a member that
 * acquires and releases one title a day, driven through a LicenseService on a manual clock for
 * ten simulated years, holds a snapshot payload and a cache estimate (approximateMemberBytes,
 * what `cache.maxBytes` counts) after ten years no larger than 1.1 times those after one, and a
 * peak between two snapshots in its tenth year no larger than in its second. The same member with
 * released licenses kept for ten years does grow, and the same measure says so.
 * (The V8 heap behind the estimate: bench/member-state-bench.ts.)
 */
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { RulesSource } from '../../src/config/rules-source.ts';
import { ManualClock } from '../../src/service/clock.ts';
import { LicenseService } from '../../src/service/license-service.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';

const HOUR = 3_600_000;
const MEMBER = 'steady';

interface Year {
  /** The latest snapshot's payload, in bytes, right after a snapshot at the year's end. */
  snapshotBytes: number;
  /** The cache's estimate of the member then. */
  estimate: number;
  /** The largest estimate seen during the year (between snapshots, before one prunes). */
  peak: number;
}

async function simulate(years: number, releasedLicenseRetentionDays: number): Promise<Year[]> {
  // No limit that a title a day could reach: the member is never refused.
  const rules = testRules({ defaults: { ...testRules().defaults, yearlyTitleLimit: null } });
  const store = new SqliteEventStore(':memory:');
  const clock = new ManualClock(T0);
  const service = new LicenseService({
    repository: new MemberRepository(store, { eventCount: 200, replayMs: 1_000_000, releasedLicenseRetentionDays }),
    rules: new RulesSource(rules),
    clock,
    maxMembersInMemory: 10,
    maxBytesInMemory: 2 ** 40,
    conflictRetries: 0,
  });
  try {
    const run = async (input: Parameters<LicenseService['execute']>[1]): Promise<string> => {
      const result = await service.execute(MEMBER, { ...input, requestId: randomUUID() });
      if (result.outcome !== 'done') throw new Error(`refused: ${JSON.stringify(result)}`);
      return result.answer.kind === 'acquire' ? result.answer.licenseId : '';
    };
    for (const [k, device] of ['tablet', 'laptop', 'tablet'].entries()) await run({ type: 'AcquireLicense', deviceId: device, titleId: `kept-${k}`, plan: 'premium' });
    const out: Year[] = [];
    let seed = 7;
    for (let year = 0; year < years; year++) {
      let peak = 0;
      for (let day = 0; day < 365; day++) {
        // A fixed walk through a catalogue of 1000 titles.
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        clock.set(T0 + (year * 365 + day) * DAY + 8 * HOUR);
        const licenseId = await run({ type: 'AcquireLicense', deviceId: 'phone', titleId: `title-${seed % 1000}`, plan: 'premium' });
        clock.set(clock.now() + 12 * HOUR);
        await run({ type: 'ReleaseLicense', licenseId });
        peak = Math.max(peak, service.stats().approximateBytes);
      }
      await service.snapshotNow(MEMBER);
      const snapshot = await store.readLatestSnapshot(MEMBER);
      out.push({ snapshotBytes: Buffer.byteLength(snapshot?.payload ?? ''), estimate: service.stats().approximateBytes, peak });
    }
    return out;
  } finally {
    await store.close();
  }
}

const ratio = (later: number, first: number): number => Math.round((later / first) * 100) / 100;

t.test('ten years of one title a day hold no more than one year', async (t) => {
  const years = await simulate(10, 30);
  const [first, second, tenth] = [years[0], years[1], years[9]];
  if (first === undefined || second === undefined || tenth === undefined) throw new Error('ten years were simulated');
  t.comment(years.map((y, i) => `year ${i + 1}: ${JSON.stringify(y)}`).join('\n'));
  t.ok(tenth.snapshotBytes <= 1.1 * first.snapshotBytes, `snapshot payload after 10 years / after 1: ${ratio(tenth.snapshotBytes, first.snapshotBytes)}`);
  t.ok(tenth.estimate <= 1.1 * first.estimate, `cache estimate after a snapshot, 10 years / 1: ${ratio(tenth.estimate, first.estimate)}`);
  // Peaks from the second year on: the first starts empty, so its peak depends on where its
  // snapshots fell while its rolling year filled up.
  t.ok(tenth.peak <= 1.1 * second.peak, `largest cache estimate in year 10 / in year 2: ${ratio(tenth.peak, second.peak)}`);
  // Not flat by being nothing: a year of history is in the state (365 downloads, 30 days of licenses).
  t.ok(first.snapshotBytes > 20_000, `the snapshot holds the rolling year (${first.snapshotBytes} bytes)`);
});

t.test('the same measure sees a state that keeps its released licenses', async (t) => {
  const years = await simulate(3, 3650);
  const [first, third] = [years[0], years[2]];
  if (first === undefined || third === undefined) throw new Error('three years were simulated');
  t.ok(third.snapshotBytes > 1.5 * first.snapshotBytes, `snapshot payload after 3 years / after 1: ${ratio(third.snapshotBytes, first.snapshotBytes)}`);
  t.ok(third.estimate > 1.5 * first.estimate, `cache estimate after 3 years / after 1: ${ratio(third.estimate, first.estimate)}`);
});

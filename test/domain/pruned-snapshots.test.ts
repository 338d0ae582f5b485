/**
 * Snapshots hold the pruned state (domain/member/retention.ts): the member in memory becomes it,
 * a reload gives it again, `replay --check` finds it equal to its events pruned the same way
 * (and finds a snapshot that dropped too much), and a version 1 snapshot, written before
 * pruning, is still read and is pruned on load.
 */
import t from 'tap';
import { checkMember } from '../../src/cli/replay-check.ts';
import { decide } from '../../src/domain/member/decide.ts';
import type { MemberCommand } from '../../src/domain/member/commands.ts';
import { fingerprintOfAnswer, type CommandAnswer } from '../../src/domain/member/answers.ts';
import { isRefusal } from '../../src/domain/refusal.ts';
import { MemberRepository, type LoadedMember, type SnapshotThresholds } from '../../src/service/member-repository.ts';
import { decodeMemberState, encodeMemberState, SNAPSHOT_SCHEMA_VERSION } from '../../src/store/codec/snapshot-codec.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';

const NO_SNAPSHOTS: SnapshotThresholds = { eventCount: Number.MAX_SAFE_INTEGER, replayMs: Number.POSITIVE_INFINITY };
const rules = testRules();

async function run(repository: MemberRepository, member: LoadedMember, command: MemberCommand): Promise<CommandAnswer> {
  const decision = decide(command, member.state, rules);
  if (!('events' in decision)) throw new Error(`not decided: ${JSON.stringify(decision)}`);
  await repository.append(member, decision.events, { rulesVersion: rules.version, requestId: command.requestId });
  return decision.answer;
}

/** L1 acquired and released on day 1, L2 acquired 40 days later and kept, each with a request id. */
async function history(repository: MemberRepository, memberId: string): Promise<LoadedMember> {
  const member = await repository.load(memberId);
  await run(repository, member, { type: 'AcquireLicense', now: T0, licenseId: 'L1', deviceId: 'd1', titleId: 'plain-1', requestId: 'r1' });
  await run(repository, member, { type: 'ReleaseLicense', now: T0 + DAY, licenseId: 'L1', requestId: 'r2' });
  await run(repository, member, { type: 'AcquireLicense', now: T0 + 40 * DAY, licenseId: 'L2', deviceId: 'd1', titleId: 'plain-2', requestId: 'r3' });
  return member;
}

t.test('a snapshot holds the pruned state, and the member in memory becomes it', async (t) => {
  const store = new SqliteEventStore(':memory:');
  t.teardown(() => store.close());
  const repository = new MemberRepository(store, NO_SNAPSHOTS);
  const member = await history(repository, 'm1');
  t.ok(member.state.licenses.has('L1'), 'before the snapshot, the released license is in memory');
  t.ok(await repository.snapshot(member), 'snapshot written');
  t.same([...member.state.licenses.keys()], ['L2'], 'after it, memory holds the active license only');
  t.same(
    [...member.state.requests.entries()].map(([id]) => id),
    ['r3'],
    'and the request id of the last 24 hours',
  );
  t.equal(member.state.releasedPrunedThrough, T0 + DAY, 'released licenses dropped through L1 release');
  const snapshot = await store.readLatestSnapshot('m1');
  t.equal(snapshot?.schemaVersion, SNAPSHOT_SCHEMA_VERSION);
  const stored = JSON.parse(snapshot?.payload ?? '{}') as { licenses: { licenseId: string }[]; downloaded: { titleId: string }[] };
  t.same(
    stored.licenses.map((l) => l.licenseId),
    ['L2'],
    'the payload holds the active license only',
  );
  t.same(
    stored.downloaded.map((d) => d.titleId),
    ['plain-1', 'plain-2'],
    'and both downloads: they count for a year',
  );
  const reloaded = await new MemberRepository(store, NO_SNAPSHOTS).load('m1');
  t.equal(encodeMemberState(reloaded.state), encodeMemberState(member.state), 'a reload gives what memory holds');
  const renew = decide({ type: 'RenewLicense', now: T0 + 40 * DAY, licenseId: 'L1' }, reloaded.state, rules);
  t.ok(isRefusal(renew) && renew.reason === 'LICENSE_NOT_FOUND', 'L1 is answered as unknown');
  t.match(await checkMember(store, 'm1'), { outcome: 'match' }, 'replay --check: the snapshot is its events, pruned');
});

t.test('the retention is the config value: a longer one keeps the released license', async (t) => {
  const store = new SqliteEventStore(':memory:');
  t.teardown(() => store.close());
  const repository = new MemberRepository(store, { ...NO_SNAPSHOTS, releasedLicenseRetentionDays: 60 });
  const member = await history(repository, 'm1');
  await repository.snapshot(member);
  t.same([...member.state.licenses.keys()], ['L1', 'L2'], 'released 39 days before the newest event: kept 60 days');
  t.equal(member.state.releasedPrunedThrough, null, 'nothing dropped yet');
  t.match(await checkMember(store, 'm1'), { outcome: 'match' });
});

t.test('replay --check finds a snapshot that dropped what it should not have', async (t) => {
  const store = new SqliteEventStore(':memory:');
  t.teardown(() => store.close());
  const repository = new MemberRepository(store, NO_SNAPSHOTS);
  const member = await history(repository, 'm1');
  await run(repository, member, { type: 'RenewLicense', now: T0 + 41 * DAY, licenseId: 'L2' });
  const tampered = decodeMemberState(SNAPSHOT_SCHEMA_VERSION, encodeMemberState(member.state));
  tampered.licenses.delete('L2');
  await store.writeSnapshot('m1', member.head, { takenAt: T0 + 41 * DAY, schemaVersion: SNAPSHOT_SCHEMA_VERSION, payload: encodeMemberState(tampered) });
  const check = await checkMember(store, 'm1');
  t.match(check, { outcome: 'mismatch' });
  t.match(check.outcome === 'mismatch' ? check.differences : [], [/licenses\/L2: in the events, missing from the snapshot/], 'the active license is named');
});

t.test('a version 1 snapshot is read, and pruned on load', async (t) => {
  const store = new SqliteEventStore(':memory:');
  t.teardown(() => store.close());
  const repository = new MemberRepository(store, NO_SNAPSHOTS);
  const member = await history(repository, 'm1');
  // What version 1 wrote: the unpruned state, a fingerprint per request id, no releasedPrunedThrough.
  const { releasedPrunedThrough: _none, ...body } = JSON.parse(encodeMemberState(member.state)) as Record<string, unknown>;
  const requests = (body['requests'] as { requestId: string; at: number; answer: CommandAnswer }[]).map((r) => ({ ...r, fingerprint: fingerprintOfAnswer(r.answer) }));
  const v1 = JSON.stringify({ ...body, requests });
  t.match(v1, /"L1"/, 'the version 1 payload holds the released license');
  await store.writeSnapshot('m1', member.head, { takenAt: T0 + 40 * DAY, schemaVersion: 1, payload: v1 });
  t.match(await checkMember(store, 'm1'), { outcome: 'match' }, 'replay --check reads it as it is');
  const loaded = await new MemberRepository(store, NO_SNAPSHOTS).load('m1');
  t.equal(loaded.eventsSinceSnapshot, 0, 'loaded from the snapshot');
  t.same([...loaded.state.licenses.keys()], ['L2'], 'pruned on load');
  const repeat = decide({ type: 'AcquireLicense', now: T0 + 40 * DAY + 1, licenseId: 'L9', deviceId: 'd1', titleId: 'plain-2', requestId: 'r3' }, loaded.state, rules);
  t.match(repeat, { repeated: true, answer: { licenseId: 'L2' } }, 'its request ids still answer repeats');
});

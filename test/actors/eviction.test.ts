/**
 * Eviction: with a cache bound of N members per worker, touching 10N members keeps each
 * worker's memory at N, and answers stay correct for evicted members: they reload from the
 * store, list their licenses, and limits reached before the eviction still refuse. The byte
 * bound holds too. The count bound on both stores.
 */
import t, { type Test } from 'tap';
import { testRules } from '../support/fixtures.ts';
import { acquire, check, listedLicenseIds, memberIds, send, startActorServer, statsOf, STORE_KINDS, storedEvents, within, type StoreKind } from './support.ts';

const N = 20;
const EARLY = 6;

// A studio whose titles may be downloaded once a year: a limit that lives in the member's history.
const rules = testRules({
  version: 'actors-eviction-1',
  studios: { once: { yearlyTitleLimit: 1 } },
  titles: { 'once-a': { studio: 'once' } },
});

async function countBound(t: Test, kind: StoreKind): Promise<void> {
  const server = await startActorServer(t, kind, { rules, actors: { workers: 2 }, cache: { maxMembers: N } });
  const { pool } = server;
  const members = memberIds(`evict-${kind}`, 10 * N);
  const early = members.slice(0, EARLY);

  // Early members: download the once-a-year title and release it (the yearly count stays),
  // and keep one license.
  const kept = new Map<string, string>();
  for (const memberId of early) {
    const once = await acquire(server, memberId, { deviceId: 'phone', titleId: 'once-a' });
    t.equal(once.status, 201, 'the once-a-year title is acquired');
    const released = await send(server, 'POST', `/v1/members/${memberId}/licenses/${String(once.body['licenseId'])}/release`, {});
    t.equal(released.status, 200, 'and released');
    const refusedNow = await acquire(server, memberId, { deviceId: 'phone', titleId: 'once-a' });
    t.equal(refusedNow.body['reason'], 'YEARLY_TITLE_LIMIT', 'before eviction, a second download this year is refused');
    const keep = await acquire(server, memberId, { deviceId: 'phone', titleId: 'keep' });
    t.equal(keep.status, 201, 'a license to keep is acquired');
    kept.set(memberId, String(keep.body['licenseId']));
  }

  // Touch all 10N members (the early ones first, so they are the least recently used).
  const rest = members.slice(EARLY);
  const answers = await within(Promise.all(rest.map((memberId) => acquire(server, memberId, { deviceId: 'tablet', titleId: 'title-1' }))), 30_000, `${rest.length} acquires`);
  t.same(
    answers.filter((a) => a.status !== 201),
    [],
    `all ${rest.length} other members acquire`,
  );
  const acked = new Map(rest.map((memberId, i) => [memberId, String(answers[i]?.body['licenseId'])]));

  const stats = await pool.stats();
  const spread = pool.workerIds.map((id) => ({
    workerId: id,
    routed: members.filter((m) => pool.workerOf(m) === id).length,
    membersInMemory: statsOf(stats, id).membersInMemory,
    loads: statsOf(stats, id).loads,
  }));
  t.comment(`${kind}: cache bound ${N} per worker, ${members.length} members: ${JSON.stringify(spread)}`);
  for (const row of spread) {
    t.ok(row.routed > N, `${row.workerId} was given more members than it may hold (${row.routed} > ${N})`);
    t.ok(row.membersInMemory <= N, `${row.workerId} holds at most ${N} members (${row.membersInMemory})`);
    t.ok(row.membersInMemory > 0, `${row.workerId} holds members`);
  }

  // Evicted members answer from the store. A limit reached before the eviction still refuses,
  // and the refusal needed a reload (the member was no longer in memory).
  for (const memberId of early.slice(0, EARLY / 2)) {
    const owner = pool.workerOf(memberId);
    const before = statsOf(await pool.stats(), owner).loads;
    const again = await acquire(server, memberId, { deviceId: 'phone', titleId: 'once-a' });
    t.equal(again.status, 409, 'after eviction, the once-a-year title is still refused');
    t.equal(again.body['reason'], 'YEARLY_TITLE_LIMIT', 'by the yearly title limit');
    t.equal(statsOf(await pool.stats(), owner).loads, before + 1, 'the evicted member was reloaded for it');
    const asked = await check(server, memberId, 'phone', 'once-a');
    t.equal(asked.body['allowed'], false, 'the check agrees');
    t.equal(asked.body['reason'], 'YEARLY_TITLE_LIMIT');
  }
  for (const memberId of early.slice(EARLY / 2)) {
    const owner = pool.workerOf(memberId);
    const before = statsOf(await pool.stats(), owner).loads;
    t.same(await listedLicenseIds(server, memberId), [kept.get(memberId)], 'after eviction, the member lists the license it kept (not the released one)');
    t.equal(statsOf(await pool.stats(), owner).loads, before + 1, 'the evicted member was reloaded for it');
    const asked = await check(server, memberId, 'phone', 'once-a');
    t.equal(asked.body['reason'], 'YEARLY_TITLE_LIMIT', 'the check of a reloaded member still sees the yearly count');
  }

  // Every member's answer agrees with what it was told, evicted or not.
  const wrong: string[] = [];
  for (const memberId of rest) {
    const listed = await listedLicenseIds(server, memberId);
    if (listed.length !== 1 || listed[0] !== acked.get(memberId)) wrong.push(memberId);
  }
  t.same(wrong, [], 'every member lists exactly the license it was acknowledged');
  const after = await pool.stats();
  for (const id of pool.workerIds) t.ok(statsOf(after, id).membersInMemory <= N, `${id} still holds at most ${N} members after the reloads`);

  // The store holds what the answers said: one acquire per member of the rest.
  const sample = rest.slice(0, 10);
  for (const memberId of sample) {
    const acquired = (await storedEvents(server.store, memberId)).flatMap((e) => (e.type === 'LicenseAcquired' ? [e.licenseId] : []));
    t.same(acquired, [acked.get(memberId)], `the store holds exactly the acknowledged license of ${memberId}`);
  }
}

for (const kind of STORE_KINDS) {
  t.test(`a cache bound of ${N} members with ${10 * N} members touched (${kind})`, { timeout: 60_000 }, (t) => countBound(t, kind));
}

t.test('the byte bound keeps each worker under cache.maxBytes', { timeout: 60_000 }, async (t) => {
  const maxBytes = 1_048_576; // the smallest the config allows
  const server = await startActorServer(t, 'sqlite', { actors: { workers: 2 }, cache: { maxMembers: 100_000, maxBytes } });
  const { pool } = server;
  // About 1 kB per member with one license (bench/RESULTS.md, "Member state"): 3000 members,
  // 1500 per worker, are well over 1 MB per worker.
  const members = memberIds('bytes', 3000);
  const answers = await within(Promise.all(members.map((memberId) => acquire(server, memberId, { deviceId: 'phone', titleId: 'title-1' }))), 40_000, '3000 acquires');
  t.same(
    answers.filter((a) => a.status !== 201),
    [],
    'all 3000 acquires succeed',
  );
  const stats = await pool.stats();
  for (const id of pool.workerIds) {
    const routed = members.filter((m) => pool.workerOf(m) === id).length;
    const s = statsOf(stats, id);
    t.comment(`${id}: ${routed} members routed, ${s.membersInMemory} in memory, ${s.approximateBytes} bytes`);
    t.ok(s.approximateBytes <= maxBytes, `${id} stays under ${maxBytes} bytes (${s.approximateBytes})`);
    t.ok(s.membersInMemory < routed, `${id} evicted members to stay under the byte bound (${s.membersInMemory} of ${routed})`);
    t.ok(s.approximateBytes > maxBytes / 2, `${id} uses the memory it may (${s.approximateBytes})`);
  }
  // An evicted member still answers from the store.
  const first = members[0] as string;
  t.same(await listedLicenseIds(server, first), [answers[0]?.body['licenseId']], 'an early member lists its license');
});

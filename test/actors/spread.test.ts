/**
 * Many members in parallel spread over every worker of the pool (the consistent hash ring), the
 * workers' memory agrees with the ring, and checks of a loaded member are answered from memory:
 * no store load, a cache hit each; concurrent checks of a cold member share one load.
 */
import t from 'tap';
import { approximateMemberBytes } from '../../src/service/license-service.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import { acquire, check, countBy, memberIds, startActorServer, statsOf, within } from './support.ts';

const MEMBERS = 400;

t.test('members spread over all workers, checks answered from memory', { timeout: 60_000 }, async (t) => {
  const server = await startActorServer(t, 'sqlite', { actors: { workers: 2 } });
  const { pool } = server;
  t.equal(pool.workerIds.length, 2, 'the pool has 2 workers');

  const members = memberIds('spread', MEMBERS);
  const answers = await within(
    Promise.all(members.map((memberId, i) => acquire(server, memberId, { deviceId: 'phone', titleId: `title-${i % 7}` }))),
    45_000,
    `${MEMBERS} acquires`,
  );
  t.same(
    answers.flatMap((a, i) => (a.status === 201 ? [] : [{ member: members[i], status: a.status, body: a.body }])),
    [],
    `all ${MEMBERS} acquires succeed`,
  );

  const byWorker = countBy(members, (m) => pool.workerOf(m));
  const stats = await pool.stats();
  const spread = pool.workerIds.map((id) => ({
    workerId: id,
    routed: byWorker.get(id) ?? 0,
    membersInMemory: statsOf(stats, id).membersInMemory,
    loads: statsOf(stats, id).loads,
    approximateBytes: statsOf(stats, id).approximateBytes,
  }));
  t.comment(`spread of ${MEMBERS} members: ${JSON.stringify(spread)}`);
  t.same([...byWorker.keys()].sort(), [...pool.workerIds].sort(), "the ring names only the pool's workers");
  for (const row of spread) {
    t.ok(row.routed > 0, `the ring gives ${row.workerId} members (${row.routed})`);
    t.ok(row.membersInMemory > 0, `${row.workerId} holds members in memory (${row.membersInMemory})`);
    t.equal(row.membersInMemory, row.routed, `${row.workerId} holds exactly the members the ring routes to it`);
    t.equal(row.loads, row.routed, `${row.workerId} loaded each of its members once`);
    // Not lopsided: with 160 virtual nodes per worker, neither gets under a quarter of the keys.
    t.ok(row.routed >= MEMBERS / 4, `${row.workerId} is not starved (${row.routed} of ${MEMBERS})`);
  }
  // Every member holds one license on one device: each weighs what a member of that shape
  // weighs (read back from the store here), and the byte bound counts them as they are now,
  // not as they were when loaded empty.
  const repository = new MemberRepository(server.store, { eventCount: Number.MAX_SAFE_INTEGER, replayMs: Number.MAX_SAFE_INTEGER });
  const oneLicenseBytes = approximateMemberBytes(await repository.load(members[0] as string));
  for (const row of spread) {
    t.equal(row.approximateBytes, row.routed * oneLicenseBytes, `${row.workerId} counts ${row.routed} members of ${oneLicenseBytes} bytes`);
  }
  t.equal(
    spread.reduce((sum, row) => sum + row.membersInMemory, 0),
    MEMBERS,
    'every member is in memory on exactly one worker',
  );

  // 50 checks of a loaded member: no load, 50 cache hits, on its worker only.
  const loaded = members[0] as string;
  const owner = pool.workerOf(loaded);
  const before = await pool.stats();
  const checks = await Promise.all(Array.from({ length: 50 }, (_, i) => check(server, loaded, i % 2 === 0 ? 'phone' : 'tablet', `other-${i}`)));
  t.same(
    checks.filter((c) => c.status !== 200 || c.body['allowed'] !== true),
    [],
    '50 checks of a loaded member are answered (allowed)',
  );
  const after = await pool.stats();
  t.equal(statsOf(after, owner).loads, statsOf(before, owner).loads, `the checks load nothing on ${owner}`);
  t.equal(statsOf(after, owner).cacheHits - statsOf(before, owner).cacheHits, 50, `the checks are 50 cache hits on ${owner}`);
  for (const id of pool.workerIds.filter((w) => w !== owner)) {
    t.same(statsOf(after, id), statsOf(before, id), `${id} is not involved in another worker's member`);
  }

  // A check answered from memory still sees the member's state: title-0 on phone is held, the
  // standard plan allows 2 devices, so a third device is refused.
  await acquire(server, loaded, { deviceId: 'tablet', titleId: 'x-1' }).then((a) => t.equal(a.status, 201, 'a second device acquires'));
  const refusedCheck = await check(server, loaded, 'laptop', 'x-2');
  t.equal(refusedCheck.status, 200);
  t.equal(refusedCheck.body['allowed'], false, 'a third device is refused by the check');
  t.equal(refusedCheck.body['reason'], 'DEVICE_LIMIT', 'the check names the device limit');

  // Concurrent checks of a cold member share one load.
  const [cold] = memberIds('cold', 1) as [string];
  const coldOwner = pool.workerOf(cold);
  const beforeCold = await pool.stats();
  const coldChecks = await Promise.all(Array.from({ length: 40 }, () => check(server, cold, 'phone', 'title-1')));
  t.same(
    coldChecks.filter((c) => c.status !== 200 || c.body['allowed'] !== true),
    [],
    '40 concurrent checks of a cold member are answered',
  );
  const afterCold = await pool.stats();
  t.equal(statsOf(afterCold, coldOwner).loads - statsOf(beforeCold, coldOwner).loads, 1, 'the cold member was loaded exactly once');
  t.equal(statsOf(afterCold, coldOwner).membersInMemory, statsOf(beforeCold, coldOwner).membersInMemory + 1, 'and is now in memory');
  const again = await check(server, cold, 'phone', 'title-1');
  t.equal(again.status, 200);
  const afterAgain = await pool.stats();
  t.equal(statsOf(afterAgain, coldOwner).loads, statsOf(afterCold, coldOwner).loads, 'a later check of it loads nothing');
  t.equal(statsOf(afterAgain, coldOwner).cacheHits - statsOf(afterCold, coldOwner).cacheHits, 1, 'and is a cache hit');
});

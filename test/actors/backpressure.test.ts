/**
 * Back-pressure through the actor pool: past the bound of one member's mailbox, or of one
 * worker's requests in flight, a request is answered 503 OVERLOADED with Retry-After at once;
 * nothing refused is stored and the service takes commands again after the burst. And errors
 * cross the thread boundary with their code, status and field intact.
 */
import t from 'tap';
import { testRules } from '../support/fixtures.ts';
import { acquire, check, countBy, memberIds, send, startActorServer, statsOf, storedAcquiredIds, within, sameSet, type Answer } from './support.ts';

// No per-device limit: without back-pressure every acquire of the bursts would succeed.
const rules = testRules({ version: 'actors-backpressure-1', maxActiveDownloadsPerDevice: null });

function describe(answers: readonly Answer[]): string {
  return JSON.stringify(Object.fromEntries(countBy(answers, (a) => `${a.status}${a.status >= 400 ? ` ${String(a.body['code'])}` : ''}`)));
}

t.test('a bounded mailbox per member', { timeout: 60_000 }, async (t) => {
  const server = await startActorServer(t, 'sqlite', { rules, actors: { workers: 2, maxQueuedPerMember: 4 } });
  const [memberId] = memberIds('burst', 1) as [string];
  const burst = await within(
    Promise.all(Array.from({ length: 40 }, (_, i) => acquire(server, memberId, { deviceId: 'phone', titleId: `title-${i}` }))),
    20_000,
    'a burst of 40 commands for one member',
  );
  t.comment(`40 commands for one member, mailbox bound 4: ${describe(burst)}`);
  const overloaded = burst.filter((a) => a.status === 503);
  t.ok(overloaded.length > 0, `some are refused for overload (${overloaded.length})`);
  t.same(
    overloaded.filter((a) => a.body['code'] !== 'OVERLOADED' || a.headers['retry-after'] !== '1'),
    [],
    'each refusal is 503 OVERLOADED with Retry-After',
  );
  t.same(
    burst.filter((a) => a.status !== 201 && a.status !== 409 && a.status !== 503),
    [],
    'the others are answered 201 or 409',
  );
  const acked = burst.filter((a) => a.status === 201).map((a) => String(a.body['licenseId']));
  t.ok(acked.length >= 4, `at least a mailbox's worth is taken (${acked.length})`);
  const stored = await storedAcquiredIds(server.store, memberId);
  t.ok(sameSet(stored, acked) && stored.length === acked.length, `the store holds every acknowledged acquire and no more (${stored.length} stored, ${acked.length} acknowledged)`);

  const owner = server.pool.workerOf(memberId);
  t.equal(statsOf(await server.pool.stats(), owner).mailboxDepth, 0, 'the mailbox is empty after the burst');
  const after = await acquire(server, memberId, { deviceId: 'phone', titleId: 'after-burst' });
  t.equal(after.status, 201, 'after the burst a new command succeeds');
  t.ok((await storedAcquiredIds(server.store, memberId)).includes(String(after.body['licenseId'])), 'and is stored');

  // Other members are not held back by one member's full mailbox.
  const [other] = memberIds('bystander', 1) as [string];
  const [busy, bystander] = await Promise.all([
    Promise.all(Array.from({ length: 20 }, (_, i) => acquire(server, memberId, { deviceId: 'phone', titleId: `again-${i}` }))),
    acquire(server, other, { deviceId: 'phone', titleId: 'title-1' }),
  ]);
  t.ok(
    busy.some((a) => a.status === 503),
    'a second burst overloads the member again',
  );
  t.equal(bystander.status, 201, 'another member is served meanwhile');
});

t.test('a bound on requests in flight per worker', { timeout: 60_000 }, async (t) => {
  const server = await startActorServer(t, 'sqlite', { rules, actors: { workers: 1, maxPendingPerWorker: 5, maxQueuedPerMember: 64 } });
  const members = memberIds('pending', 50);
  const burst = await within(
    Promise.all(members.map((memberId) => acquire(server, memberId, { deviceId: 'phone', titleId: 'title-1' }))),
    20_000,
    'a burst of 50 commands over 50 members',
  );
  t.comment(`50 commands over 50 members, 1 worker, 5 in flight at most: ${describe(burst)}`);
  const overloaded = burst.filter((a) => a.status === 503);
  t.ok(overloaded.length > 0, `some are refused for overload (${overloaded.length})`);
  t.ok(overloaded.length <= 45, 'at least the bound is taken');
  t.same(
    overloaded.filter((a) => a.body['code'] !== 'OVERLOADED' || a.headers['retry-after'] !== '1'),
    [],
    'each refusal is 503 OVERLOADED with Retry-After',
  );
  t.same(
    burst.filter((a) => a.status !== 201 && a.status !== 503),
    [],
    'the others succeed',
  );
  const wrong: string[] = [];
  for (const [i, memberId] of members.entries()) {
    const stored = await storedAcquiredIds(server.store, memberId);
    const answer = burst[i] as Answer;
    const expected = answer.status === 201 ? [String(answer.body['licenseId'])] : [];
    if (!sameSet(stored, expected) || stored.length !== expected.length) wrong.push(memberId);
  }
  t.same(wrong, [], 'each member has stored exactly its acknowledged acquire (none for the refused)');
  const after = await acquire(server, members[0] as string, { deviceId: 'phone', titleId: 'after-burst' });
  t.equal(after.status, 201, 'after the burst a new command succeeds');
});

t.test('errors cross the thread boundary with code and status', { timeout: 60_000 }, async (t) => {
  const server = await startActorServer(t, 'sqlite', { actors: { workers: 2 } });
  const [memberId] = memberIds('errors', 1) as [string];

  const unknownPlan = await acquire(server, memberId, { deviceId: 'phone', titleId: 'title-1', plan: 'platinum' });
  t.equal(unknownPlan.status, 400, 'an unknown plan is 400');
  t.equal(unknownPlan.body['code'], 'UNKNOWN_PLAN');
  t.equal(unknownPlan.body['field'], 'plan', 'with the field named');
  t.match(unknownPlan.body['message'], /platinum/, 'and the message naming the plan');
  const unknownPlanCheck = await send(server, 'GET', `/v1/members/${memberId}/check?deviceId=phone&titleId=title-1&plan=platinum`);
  t.equal(unknownPlanCheck.status, 400, 'a check with an unknown plan is 400');
  t.equal(unknownPlanCheck.body['code'], 'UNKNOWN_PLAN');

  const first = await acquire(server, memberId, { deviceId: 'phone', titleId: 'title-1', requestId: 'req-1' });
  t.equal(first.status, 201, 'an acquire with a request id');
  const replay = await acquire(server, memberId, { deviceId: 'phone', titleId: 'title-1', requestId: 'req-1' });
  t.equal(replay.status, 201, 'the same request again is answered as the first');
  t.equal(replay.body['licenseId'], first.body['licenseId'], 'with the first license');
  t.equal(replay.headers['idempotent-replayed'], 'true', 'marked as a replay');
  const reused = await acquire(server, memberId, { deviceId: 'phone', titleId: 'title-2', requestId: 'req-1' });
  t.equal(reused.status, 422, 'a request id reused for another command is 422');
  t.equal(reused.body['code'], 'REQUEST_ID_REUSED');
  t.equal(reused.body['field'], 'body.requestId', 'with the field named');

  const notFound = await send(server, 'POST', `/v1/members/${memberId}/licenses/no-such-license/renew`, {});
  t.equal(notFound.status, 404, 'renewing an unknown license is 404');
  t.equal(notFound.body['code'], 'LICENSE_NOT_FOUND');
  const releaseNotFound = await send(server, 'POST', `/v1/members/${memberId}/licenses/no-such-license/release`, {});
  t.equal(releaseNotFound.status, 404, 'releasing an unknown license is 404');
  t.equal(releaseNotFound.body['code'], 'LICENSE_NOT_FOUND');

  // The pool itself rejects with the catalog's code and status, not a bare Error.
  await t.rejects(
    server.pool.execute(memberId, { type: 'AcquireLicense', deviceId: 'phone', titleId: 'title-3', plan: 'platinum', requestId: undefined }),
    { code: 'UNKNOWN_PLAN', status: 400, details: { field: 'plan' } },
    'the pool rejects with code, status and details',
  );
  await t.rejects(server.pool.check(memberId, { deviceId: 'phone', titleId: 'title-3', plan: 'platinum' }), { code: 'UNKNOWN_PLAN', status: 400 });

  // None of these errors left anything behind: the one acquire is the only one stored.
  t.same(await storedAcquiredIds(server.store, memberId), [first.body['licenseId']], 'only the successful acquire is stored');
  const ok = await check(server, memberId, 'phone', 'title-9');
  t.equal(ok.body['allowed'], true, 'the member is served normally afterwards');
});

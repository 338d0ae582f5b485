/**
 * A worker killed in the middle of a write load: no request hangs or answers 500, every
 * acknowledged acquire has its event in the store, the requests that failed got 503
 * WORKER_FAILED, the other worker is untouched, and the pool replaces the worker: its members
 * reload from the store and take commands again. On both stores.
 */
import t, { type Test } from 'tap';
import {
  acquire,
  countBy,
  listedLicenseIds,
  memberIds,
  send,
  sleep,
  startActorServer,
  statsOf,
  STORE_KINDS,
  storedAcquiredIds,
  within,
  type Answer,
  type StoreKind,
} from './support.ts';

const MEMBERS = 100;
const PER_MEMBER = 3;
const CHUNK = 20;

async function scenario(t: Test, kind: StoreKind): Promise<void> {
  const server = await startActorServer(t, kind, { actors: { workers: 2 } });
  const { pool } = server;
  const members = memberIds(`crash-${kind}`, MEMBERS);
  const victim = pool.workerOf(members[0] as string);
  const victimMembers = members.filter((m) => pool.workerOf(m) === victim);
  const otherMembers = members.filter((m) => pool.workerOf(m) !== victim);
  t.ok(otherMembers.length > 0, 'members are spread over both workers');
  t.comment(`${kind}: killing ${victim}, which holds ${victimMembers.length} of ${MEMBERS} members`);

  // Request k: member k % 100, its (k / 100)th title, on one device: all within the limits.
  const requests = Array.from({ length: MEMBERS * PER_MEMBER }, (_, k) => ({
    memberId: members[k % MEMBERS] as string,
    body: { deviceId: 'phone', titleId: `title-${Math.floor(k / MEMBERS)}` },
  }));
  const answers: Promise<Answer>[] = [];
  // The member of each answer, in the order sent (answers[k] is for sentMembers[k]).
  const sentMembers: string[] = [];
  // Indices of answers that came from the pool directly rather than over HTTP.
  const directAnswers = new Set<number>();
  let killed: Promise<void> | undefined;
  // How many requests had been sent when the killed worker's replacement took its place.
  let sentBeforeReplacement = Number.POSITIVE_INFINITY;
  for (let start = 0; start < requests.length; start += CHUNK) {
    for (const { memberId, body } of requests.slice(start, start + CHUNK)) {
      sentMembers.push(memberId);
      answers.push(acquire(server, memberId, body));
    }
    if (answers.length === 100) {
      // Kill once the load is flowing: the first answer is in, most of the others are in flight.
      await Promise.race(answers);
      // Dispatch a few more for the victim straight into the pool in the same tick as the kill,
      // so requests are surely in flight to it when it dies (a fast store may have answered all
      // the others; through HTTP they would reach the pool a few ticks later, maybe after the
      // replacement). Their answers are the pool's, mapped to the HTTP statuses they produce.
      for (const memberId of victimMembers.slice(0, 5)) {
        sentMembers.push(memberId);
        directAnswers.add(answers.length);
        answers.push(
          pool.execute(memberId, { type: 'AcquireLicense', deviceId: 'phone', titleId: 'title-at-kill' }).then(
            (result): Answer => ({ status: result.outcome === 'done' ? 201 : 409, body: result.outcome === 'done' ? { ...result.answer } : {}, headers: {} }),
            (error: { code?: string }): Answer => ({ status: 503, body: { code: error.code }, headers: {} }),
          ),
        );
      }
      killed = pool.killWorker(victim).then(() => {
        sentBeforeReplacement = answers.length;
      });
    }
    // Spread the rest over a while: some land while the worker dies, some while its
    // replacement starts.
    await sleep(15);
  }
  const settled = await within(Promise.all(answers), 30_000, 'the requests around the kill');
  await killed;

  const statuses = countBy(settled, (a) => `${a.status}${a.status === 201 ? '' : ` ${String(a.body['code'])}`}`);
  t.comment(`${kind}: answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.same(
    settled.filter((a) => !(a.status === 201 || (a.status === 503 && a.body['code'] === 'WORKER_FAILED'))),
    [],
    'every request is answered 201 or 503 WORKER_FAILED (never 500, never anything else)',
  );
  const failed = settled.filter((a) => a.status === 503);
  t.ok(failed.length > 0, `the kill failed requests in flight (${failed.length})`);
  t.ok(
    settled.every((a, k) => a.status !== 503 || directAnswers.has(k) || a.headers['retry-after'] === '1'),
    'a WORKER_FAILED answer over HTTP carries Retry-After',
  );
  t.same(
    settled.flatMap((a, k) => (a.status !== 201 && pool.workerOf(sentMembers[k] ?? '') !== victim ? [a] : [])),
    [],
    'requests for the other worker all succeed',
  );
  const afterReplacement = settled.filter((_, k) => k >= sentBeforeReplacement && pool.workerOf(sentMembers[k] ?? '') === victim);
  t.comment(`${kind}: ${sentBeforeReplacement} requests were sent before the replacement took over; ${afterReplacement.length} for ${victim} after`);
  const late: { memberId: string; answer: Answer }[] = [];
  if (afterReplacement.length === 0) {
    // On a loaded machine the kill can complete only after the whole load was sent: then send
    // a few requests for the killed worker's members now, right behind its replacement.
    const lateMembers = victimMembers.slice(0, 5);
    const answered = await within(
      Promise.all(lateMembers.map((memberId) => acquire(server, memberId, { deviceId: 'phone', titleId: 'title-after-kill' }))),
      30_000,
      'the requests right after the replacement',
    );
    answered.forEach((answer, i) => late.push({ memberId: lateMembers[i] as string, answer }));
    afterReplacement.push(...answered);
  }
  t.ok(afterReplacement.length > 0, 'some requests for the killed worker were sent after it was replaced');
  t.same(
    afterReplacement.filter((a) => a.status !== 201),
    [],
    'those wait for the replacement to start and succeed',
  );

  // Every acknowledged acquire is stored; beyond them, only requests that failed with the
  // worker may have been stored (their write may have landed before the thread died).
  const acked = new Map<string, string[]>();
  const failedPerMember = new Map<string, number>();
  const tally = (memberId: string, a: Answer): void => {
    if (a.status === 201) acked.set(memberId, [...(acked.get(memberId) ?? []), String(a.body['licenseId'])]);
    else failedPerMember.set(memberId, (failedPerMember.get(memberId) ?? 0) + 1);
  };
  settled.forEach((a, k) => tally(sentMembers[k] as string, a));
  for (const { memberId, answer } of late) tally(memberId, answer);
  const missing: string[] = [];
  const unexplained: string[] = [];
  const storedByMember = new Map<string, string[]>();
  for (const memberId of members) {
    const stored = await storedAcquiredIds(server.store, memberId);
    storedByMember.set(memberId, stored);
    const ackedIds = acked.get(memberId) ?? [];
    for (const id of ackedIds) if (!stored.includes(id)) missing.push(`${memberId}/${id}`);
    if (stored.length > ackedIds.length + (failedPerMember.get(memberId) ?? 0)) unexplained.push(memberId);
  }
  t.same(missing, [], 'every acknowledged license has its LicenseAcquired event in the store');
  t.same(unexplained, [], 'no member has more stored acquires than acknowledged plus failed requests');

  // The pool recovers: an acquire for a member of the killed worker succeeds within a bound.
  // Generous: a replacement worker compiles its TypeScript again, which is slow on a busy machine.
  const recoveredBy = Date.now() + 45_000;
  const probe = victimMembers[0] as string;
  let recovered: Answer | undefined;
  while (Date.now() < recoveredBy) {
    const res = await within(acquire(server, probe, { deviceId: 'phone', titleId: 'after-kill' }), 10_000, 'an acquire after the kill');
    if (res.status === 201) {
      recovered = res;
      break;
    }
    t.equal(res.body['code'], 'WORKER_FAILED', 'while the worker is replaced, requests fail fast with WORKER_FAILED');
    await sleep(50);
  }
  t.equal(recovered?.status, 201, `the replaced worker takes commands again (${kind})`);

  // Its members reload from the store: each lists what the store holds, which includes every
  // license acknowledged before the kill; and each takes a new command.
  const listMismatch: string[] = [];
  for (const memberId of victimMembers) {
    const listed = await listedLicenseIds(server, memberId);
    const stored = memberId === probe ? [...(storedByMember.get(memberId) ?? []), String(recovered?.body['licenseId'])] : (storedByMember.get(memberId) ?? []);
    const ackedIds = acked.get(memberId) ?? [];
    if (listed.length !== stored.length || !stored.every((id) => listed.includes(id)) || !ackedIds.every((id) => listed.includes(id))) {
      listMismatch.push(memberId);
    }
  }
  t.same(listMismatch, [], 'after the kill, the members of the killed worker list every stored license');
  const stats = statsOf(await pool.stats(), victim);
  t.ok(stats.loads >= victimMembers.length, `the new ${victim} reloaded its members from the store (${stats.loads} loads)`);
  const afterAnswers = await within(
    Promise.all(victimMembers.map((memberId) => acquire(server, memberId, { deviceId: 'phone', titleId: 'after-recovery' }))),
    20_000,
    'acquires after recovery',
  );
  t.same(
    afterAnswers.filter((a) => a.status !== 201),
    [],
    `every member of ${victim} takes a new acquire after recovery`,
  );
}

for (const kind of STORE_KINDS) {
  t.test(`a worker killed under write load (${kind})`, { timeout: 150_000 }, (t) => scenario(t, kind));
}

t.test('a replaced worker enforces the rules in force, not the ones the pool started with', { timeout: 150_000 }, async (t) => {
  const server = await startActorServer(t, 'sqlite', { actors: { workers: 2 } });
  const { pool } = server;
  const [memberId] = memberIds('rules-after-crash', 1) as [string];
  const victim = pool.workerOf(memberId);

  const before = await acquire(server, memberId, { deviceId: 'phone', titleId: 'title-1' });
  t.equal(before.body['rulesVersion'], 'test-1', 'the starting rules are in force');
  // A hot reload: a new version, and the standard plan now allows one device only.
  const reloaded = { ...server.rules.current(), version: 'test-2', plans: { ...server.rules.current().plans, standard: { maxDownloadDevices: 1 } } };
  t.equal(server.rules.replace(reloaded).outcome, 'applied', 'new rules are applied');
  const afterReload = await acquire(server, memberId, { deviceId: 'phone', titleId: 'title-2' });
  t.equal(afterReload.body['rulesVersion'], 'test-2', 'the workers decide with the reloaded rules');
  const refusedByReload = await acquire(server, memberId, { deviceId: 'tablet', titleId: 'title-3' });
  t.equal(refusedByReload.body['reason'], 'DEVICE_LIMIT', 'the reloaded plan allows one device');

  await pool.killWorker(victim);
  const deadline = Date.now() + 20_000;
  let after: Awaited<ReturnType<typeof acquire>> | undefined;
  while (Date.now() < deadline) {
    after = await within(acquire(server, memberId, { deviceId: 'phone', titleId: 'title-4' }), 10_000, 'an acquire after the kill');
    if (after.status !== 503) break;
    await sleep(50);
  }
  t.equal(after?.status, 201, 'the replaced worker takes commands');
  t.equal(after?.body['rulesVersion'], 'test-2', 'the replaced worker decides with the rules in force');
  const tablet = await acquire(server, memberId, { deviceId: 'tablet', titleId: 'title-5' });
  t.equal(tablet.status, 409, 'and still refuses a second device');
  t.equal(tablet.body['reason'], 'DEVICE_LIMIT');
  const checked = await send(server, 'GET', `/v1/members/${memberId}/check?deviceId=tablet&titleId=title-5`);
  t.equal(checked.body['rulesVersion'], 'test-2', 'checks too');
});

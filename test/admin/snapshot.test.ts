/** POST /v1/admin/members/:memberId/snapshot: in process, and through the actor pool (2 workers, temp-file SQLite). */
import t from 'tap';
import { acquireOk, server } from '../http/http-support.ts';
import { acquire as actorAcquire, startActorServer } from '../actors/support.ts';
import type { TestServer } from '../support/fixtures.ts';
import { StoreUnavailableError } from '../../src/errors/catalog.ts';
import type { NewSnapshot, StreamHead } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { AUTH, expectUnauthorized, send } from './admin-support.ts';

function snapshot(s: TestServer, memberId: string) {
  return send(s.app, { method: 'POST', url: `/v1/admin/members/${memberId}/snapshot`, headers: AUTH });
}

t.test('in process: snapshot now opens the next generation; the member keeps working', async (t) => {
  const s = await server(t);
  await acquireOk(t, s, 'm1', 'phone', 'film-1');
  await acquireOk(t, s, 'm1', 'phone', 'film-2');
  const before = await s.store.readHead('m1');
  t.equal(before.generation, 0);

  const res = await snapshot(s, 'm1');
  t.equal(res.status, 200, res.raw);
  t.same(res.body, { memberId: 'm1', taken: true, generation: 1, position: before.position });
  const stored = await s.store.readLatestSnapshot('m1');
  t.equal(stored?.generation, 1, 'the store has the snapshot of generation 1');
  t.equal(stored?.position, before.position);

  const again = await snapshot(s, 'm1');
  t.same(again.body, { memberId: 'm1', taken: false, generation: 1, position: before.position }, 'nothing new: no second snapshot');

  await acquireOk(t, s, 'm1', 'tablet', 'film-3');
  const head = await s.store.readHead('m1');
  t.equal(head.generation, 1, 'new events go to the new generation');
  const third = await snapshot(s, 'm1');
  t.same(third.body, { memberId: 'm1', taken: true, generation: 2, position: head.position });

  const empty = await snapshot(s, 'nobody');
  t.same(empty.body, { memberId: 'nobody', taken: false, generation: 0, position: 0 }, 'a member without events: nothing to snapshot');

  const invalid = await snapshot(s, 'bad id!');
  t.equal(invalid.status, 400, 'the member id is validated');
  expectUnauthorized(t, await send(s.app, { method: 'POST', url: '/v1/admin/members/m1/snapshot' }), 'no token');
});

t.test('through the actor pool: the worker holding the member snapshots it', async (t) => {
  const s = await startActorServer(t, 'sqlite');
  const members = ['pool-a', 'pool-b', 'pool-c', 'pool-d'];
  t.ok(new Set(members.map((m) => s.pool.workerOf(m))).size === 2, 'the members spread over both workers');
  for (const memberId of members) {
    t.equal((await actorAcquire(s, memberId, { deviceId: 'phone', titleId: 'film-1' })).status, 201);
    t.equal((await actorAcquire(s, memberId, { deviceId: 'phone', titleId: 'film-2' })).status, 201);
  }
  for (const memberId of members) {
    const before = await s.store.readHead(memberId);
    const res = await snapshot(s, memberId);
    t.equal(res.status, 200, res.raw);
    t.same(res.body, { memberId, taken: true, generation: 1, position: before.position }, `${memberId} snapshotted`);
    t.equal((await s.store.readLatestSnapshot(memberId))?.generation, 1, `${memberId}: the store has it`);
    // The worker's member moved to generation 1 too: its next command appends there.
    t.equal((await actorAcquire(s, memberId, { deviceId: 'phone', titleId: 'film-3' })).status, 201);
    t.equal((await s.store.readHead(memberId)).generation, 1, `${memberId}: the next append lands in generation 1`);
  }
});

t.test('a store failure during the snapshot is 503, and the member reloads afterwards', async (t) => {
  class FailingSnapshots extends SqliteEventStore {
    fail = true;
    override writeSnapshot(memberId: string, expected: StreamHead, snapshot: NewSnapshot): Promise<StreamHead> {
      if (this.fail) return Promise.reject(new StoreUnavailableError('snapshot write timed out', { outcome: 'unknown' }));
      return super.writeSnapshot(memberId, expected, snapshot);
    }
  }
  const store = new FailingSnapshots(':memory:');
  const s = await server(t, { store });
  await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const failed = await snapshot(s, 'm1');
  t.equal(failed.status, 503, failed.raw);
  t.equal(failed.body['code'], 'STORE_UNAVAILABLE');
  t.equal(failed.headers['retry-after'], '1');
  store.fail = false;
  await acquireOk(t, s, 'm1', 'phone', 'film-2');
  const ok = await snapshot(s, 'm1');
  t.equal(ok.status, 200, ok.raw);
  t.equal(ok.body['taken'], true);
});

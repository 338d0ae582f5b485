/**
 * The stale writer: the owner of a member is paused (SIGSTOP) with the member in memory, the
 * member moves and is written through its new owner, then the old node wakes up with a
 * command for it already in its socket. The store refuses the old node's append (fenced by the
 * new owner's claim), and the history holds exactly what was acknowledged.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { request } from 'undici';
import type { LaunchedCluster } from '../../cluster/launcher.ts';
import type { ClusterChange, ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import type { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { call, historyOf, historyProblems, openStore, startTestCluster } from './cluster-support.ts';

let cluster: LaunchedCluster;
let store: TieredEventStore;
t.before(async () => {
  // No polling (a long interval) and no failure detection: the paused node may learn of the
  // move only when it is told, so what it does on waking is what a stale owner would do.
  cluster = await startTestCluster(2, { pollIntervalMs: 60_000, failureTimeoutMs: 600_000 });
  store = await openStore();
});
t.teardown(async () => {
  await cluster?.stop();
  await store?.close();
});

t.test('a paused old owner wakes up after its member moved: the store refuses its append', async (t) => {
  const [first, second] = cluster.nodes;
  if (!first || !second) throw new Error('two nodes expected');
  // A member that node-1 owns, loaded in node-1's memory by a first acquire.
  let memberId = '';
  for (let i = 0; i < 100 && !memberId; i++) {
    const candidate = `stale-${cluster.clusterId}-${i}`;
    const answer = await call(`${first.url}/v1/members/${candidate}/check?deviceId=d1&titleId=t1`, 'GET');
    if (answer.servedBy === first.id) memberId = candidate;
  }
  t.ok(memberId, 'found a member owned by node-1');
  const before = await call(`${first.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't1', requestId: randomUUID() });
  t.equal(before.status, 201);
  t.equal(before.servedBy, first.id);

  first.child.kill('SIGSTOP');
  try {
    // A command for the member reaches the paused node (the kernel queues it).
    const staleRequestId = randomUUID();
    const stale = request(`${first.url}/v1/members/${memberId}/licenses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: 'd1', titleId: 't2', requestId: staleRequestId }),
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    }).then(async (response) => ({ status: response.statusCode, body: (await response.body.json()) as { code?: string; licenseId?: string } }));
    await new Promise((resolve) => setTimeout(resolve, 300));

    // The member moves: node-1 drains (through node-2's admin API) while it sleeps.
    const drain = await cluster.admin('POST', '/v1/admin/cluster/nodes/node-1/drain', undefined, second);
    t.equal(drain.status, 200, 'the drain is applied without the paused node');
    t.same((drain.body as ClusterChange).plan.unreachable, ['node-1'], 'the plan says the paused node did not answer');
    const moved = await call(`${second.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't3', requestId: randomUUID() });
    t.equal(moved.status, 201, 'the new owner writes the member');
    t.equal(moved.servedBy, second.id);

    first.child.kill('SIGCONT');
    const staleAnswer = await stale;
    t.equal(staleAnswer.status, 503, 'the woken node could not write');
    t.equal(staleAnswer.body.code, 'OWNERSHIP_MOVED', 'because the store refused its fence');
    // The refusal is answered only once the woken node has read the view again, so a retry sent
    // the moment the 503 arrives is routed by the new view (asked through node-2, which does not
    // make node-1 refresh).
    const seen = await cluster.admin('GET', '/v1/admin/cluster', undefined, second);
    const woken = (seen.body as ClusterDescription).nodes.find((node) => node.id === first.id);
    t.equal(woken?.epoch, (drain.body as ClusterChange).view.epoch, 'the woken node already routes by the view of the drain');

    // Once it has caught up, the same command (same requestId) goes to the new owner.
    const retried = await call(`${first.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't2', requestId: staleRequestId });
    t.equal(retried.status, 201, 'the retry succeeds');
    t.equal(retried.servedBy, second.id, 'served by the new owner');

    const rows = await historyOf(store, memberId);
    t.same(historyProblems(memberId, rows), [], 'the history is gap-free and within limits');
    const acquired = rows.map(decodeEvent).filter((event) => event.type === 'LicenseAcquired');
    t.same(
      acquired.map((event) => (event.type === 'LicenseAcquired' ? event.titleId : '')),
      ['t1', 't3', 't2'],
      'exactly the three acknowledged acquires, in order; nothing from the refused append',
    );
  } finally {
    first.child.kill('SIGCONT');
  }
});

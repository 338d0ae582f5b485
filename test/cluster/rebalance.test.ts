/**
 * Three nodes under a steady mixed load; a fourth joins, then one drains, then it is removed.
 * Every answered command is in the store, no member ever exceeds a limit, the edge saw no 5xx
 * but bounded, retried 503s, and a forwarded request answers like a direct one.
 */
import t from 'tap';
import type { LaunchedCluster } from '../../cluster/launcher.ts';
import type { ClusterChange, ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import type { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { call, missingAcknowledged, MOVE_CODES, movesSettled, openStore, startEdgeLoad, startTestCluster, waitFor } from './cluster-support.ts';

type Licenses = { licenses: unknown[] };

let cluster: LaunchedCluster;
let store: TieredEventStore;
t.before(async () => {
  cluster = await startTestCluster(3);
  store = await openStore();
});
t.teardown(async () => {
  await cluster?.stop();
  await store?.close();
});

t.test('join, drain and remove under load: nothing acknowledged lost, no limit exceeded, only retried 503s', async (t) => {
  const members = Array.from({ length: 60 }, (_, i) => `rebalance-${cluster.clusterId}-${i}`);
  let targets = cluster.nodes.map((node) => node.url);
  const load = startEdgeLoad({ targets: () => targets, members, concurrency: 6 });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await pause(3000);

  // A fourth node joins and gets its share.
  const fourth = await cluster.addNode('node-4');
  targets = [...targets, fourth.url];
  const rebalance = await cluster.admin('POST', '/v1/admin/cluster/rebalance');
  t.equal(rebalance.status, 200, 'rebalance applied');
  const { plan } = rebalance.body as ClusterChange;
  t.ok(plan.membersMoving > 0 && plan.moves.every((m) => m.to === 'node-4'), `members move, all to the new node (${JSON.stringify(plan.moves)})`);
  t.ok(plan.keyspaceShareMoving > 0.15 && plan.keyspaceShareMoving < 0.35, `about a quarter of the key space moves (${plan.keyspaceShareMoving})`);
  await waitFor('the join handoff', () => movesSettled(cluster), 60_000);
  await pause(2000);

  // node-2 drains: out of the ring, its members move, it still forwards.
  const drained = cluster.nodes.find((node) => node.id === 'node-2');
  if (!drained) throw new Error('no node-2');
  const drain = await cluster.admin('POST', '/v1/admin/cluster/nodes/node-2/drain');
  t.equal(drain.status, 200, 'drain applied');
  t.ok(
    (drain.body as ClusterChange).plan.moves.every((m) => m.from === 'node-2'),
    'only node-2’s members move',
  );
  await waitFor('the drain handoff', () => movesSettled(cluster), 60_000);
  const view = (await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
  t.equal(view.nodes.find((n) => n.id === 'node-2')?.membersInMemory, 0, 'the drained node holds no member');
  await pause(2000);

  // Then it is removed and stopped (the edge stops sending to it first).
  targets = targets.filter((url) => url !== drained.url);
  const removal = await cluster.admin('DELETE', '/v1/admin/cluster/nodes/node-2');
  t.equal(removal.status, 200, 'remove applied');
  drained.child.kill('SIGTERM');
  await drained.exited;
  await pause(2000);
  const record = await load.stop();

  const failures = record.attempts.filter((a) => a.status >= 500 || a.status === 0);
  // The drained node is stopped only after the edge stopped sending to it: no dropped connection.
  t.same(record.unanswered, [], 'every request got a non-5xx answer within its retries');
  t.same(
    failures.filter((a) => a.status !== 503 || !MOVE_CODES.has(a.code ?? '')),
    [],
    'every 5xx the edge saw was a retryable 503 of a move',
  );
  t.ok(failures.length <= Math.max(30, record.attempts.length * 0.05), `503s stayed bounded: ${failures.length} of ${record.attempts.length} attempts`);
  t.ok(record.acquired.length > 50, `the load acquired licenses (${record.acquired.length}) and answered ${record.answered} requests`);
  const { missing, problems } = await missingAcknowledged(store, record.acquired);
  t.same(missing, [], 'every acknowledged acquire is in the store');
  t.same(problems, [], 'histories are gap-free and never over the device limit');

  const final = (await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
  t.same(final.ring.owners, ['node-1', 'node-3', 'node-4'], `the ring is the three remaining nodes (last change: ${final.reason})`);
  t.equal(final.nodes.find((n) => n.id === 'node-2')?.state, 'removed');
});

t.test('a forwarded request and a direct one give the same answer', async (t) => {
  const live = cluster.nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
  for (let i = 0; i < 6; i++) {
    const memberId = `forwarding-${cluster.clusterId}-${i}`;
    const first = live[0];
    if (!first) throw new Error('no live node');
    const acquired = await call(`${first.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't1' });
    t.equal(acquired.status, 201);
    const owner = acquired.servedBy;
    const answers = await Promise.all(live.map((node) => call(`${node.url}/v1/members/${memberId}/licenses`, 'GET')));
    const checks = await Promise.all(live.map((node) => call(`${node.url}/v1/members/${memberId}/check?deviceId=d1&titleId=t1`, 'GET')));
    for (const answer of [...answers, ...checks]) t.equal(answer.servedBy, owner, 'the owner answers, whichever node was asked');
    t.same(new Set(answers.map((a) => JSON.stringify(a.body))).size, 1, 'the same licenses from every node');
    t.same(new Set(checks.map((a) => JSON.stringify(a.body))).size, 1, 'the same check answer from every node');
    t.equal((answers[0]?.body as Licenses | undefined)?.licenses.length, 1, 'the one license acquired');
  }
});

t.test('a node stopped with SIGTERM hands its members off and leaves the ring', async (t) => {
  const leaving = cluster.nodes.find((node) => node.id === 'node-3');
  const staying = cluster.nodes.find((node) => node.id === 'node-1');
  if (!leaving || !staying) throw new Error('nodes expected');
  // A member of node-3's, with a license.
  let memberId = '';
  for (let i = 0; i < 200 && !memberId; i++) {
    const candidate = `leaving-${cluster.clusterId}-${i}`;
    if ((await call(`${staying.url}/v1/members/${candidate}/check?deviceId=d1&titleId=t1`, 'GET')).servedBy === leaving.id) memberId = candidate;
  }
  t.ok(memberId, 'found a member of node-3');
  t.equal((await call(`${staying.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't1' })).status, 201);
  const startedAt = Date.now();
  leaving.child.kill('SIGTERM');
  t.equal(await leaving.exited, 0, 'it exits cleanly');
  const view = (await cluster.admin('GET', '/v1/admin/cluster', undefined, staying)).body as ClusterDescription;
  t.equal(view.nodes.find((n) => n.id === 'node-3')?.state, 'removed');
  t.equal(view.reason, 'node node-3 left', 'it left by itself, not by the failure detector');
  t.ok(Date.now() - startedAt < 15_000, 'within the leave bound');
  const after = await call(`${staying.url}/v1/members/${memberId}/licenses`, 'GET');
  t.equal(after.status, 200);
  t.not(after.servedBy, leaving.id);
  t.equal((after.body as Licenses).licenses.length, 1, 'its license went with it');
});

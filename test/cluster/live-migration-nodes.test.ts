/**
 * Live migration between real node processes on the test Cassandra (cluster.liveMigration on,
 * the default): a fourth node joins and the members it gets arrive with their state, not read
 * from the store (its member_loads_total does not move, its `received.installed` counts them);
 * then a node drains under a steady mixed load, every request is answered (retried 503s of a
 * move only), and every acknowledged acquire is in the store.
 */
import t from 'tap';
import { request } from 'undici';
import type { LaunchedCluster, LaunchedNode } from '../../cluster/launcher.ts';
import type { ClusterChange, ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import type { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { call, missingAcknowledged, MOVE_CODES, movesSettled, openStore, startEdgeLoad, startTestCluster, waitFor } from './cluster-support.ts';

let cluster: LaunchedCluster;
let store: TieredEventStore;
t.before(async () => {
  cluster = await startTestCluster(3, { liveMigration: true });
  store = await openStore();
});
t.teardown(async () => {
  await cluster?.stop();
  await store?.close();
});

/** member_loads_total over the node's workers (GET /metrics). */
async function loadsOf(node: LaunchedNode): Promise<number> {
  const response = await request(`${node.url}/metrics`, { headers: { authorization: `Bearer ${cluster.adminToken}` } });
  const text = await response.body.text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith('member_loads_total')) total += Number(line.split(' ').at(-1));
  return total;
}

async function nodeStatus(id: string): Promise<ClusterDescription['nodes'][number]> {
  const view = (await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
  const node = view.nodes.find((n) => n.id === id);
  if (!node) throw new Error(`no ${id}`);
  return node;
}

t.test('a joining node receives its members with their state: no store read, right answers', async (t) => {
  const members = Array.from({ length: 48 }, (_, i) => `lmn-${cluster.clusterId}-${i}`);
  const licenses = new Map<string, string>();
  for (const [i, memberId] of members.entries()) {
    const via = cluster.nodes[i % cluster.nodes.length] as LaunchedNode;
    const answer = await call(`${via.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't1' });
    t.equal(answer.status, 201);
    licenses.set(memberId, (answer.body as { licenseId: string }).licenseId);
  }
  const fourth = await cluster.addNode('node-4');
  const loadsBefore = await loadsOf(fourth);
  const rebalance = await cluster.admin('POST', '/v1/admin/cluster/rebalance');
  t.equal(rebalance.status, 200);
  const moving = (rebalance.body as ClusterChange).plan.moves.filter((m) => m.to === 'node-4').reduce((sum, m) => sum + m.members, 0);
  t.ok(moving > 0, `${moving} members move to node-4`);
  await waitFor('the handoff', () => movesSettled(cluster), 60_000);

  const view = (await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
  const senders = view.nodes.filter((n) => n.moves && n.moves.epoch === view.epoch);
  t.equal(
    senders.reduce((sum, n) => sum + (n.moves?.installed ?? 0), 0),
    moving,
    'the senders count every member installed',
  );
  const received = view.nodes.find((n) => n.id === 'node-4')?.received;
  t.same(received, { installed: moving, skipped: 0, warmed: 0, failed: 0 }, 'node-4 installed each one');
  t.equal(await loadsOf(fourth), loadsBefore, 'node-4 read none of them from the store');

  let servedByFourth = 0;
  for (const [memberId, licenseId] of licenses) {
    const answer = await call(`${fourth.url}/v1/members/${memberId}/licenses`, 'GET');
    t.equal(answer.status, 200);
    t.same(
      (answer.body as { licenses: { licenseId: string }[] }).licenses.map((l) => l.licenseId),
      [licenseId],
      `${memberId}: its license`,
    );
    if (answer.servedBy === 'node-4') servedByFourth += 1;
  }
  t.equal(servedByFourth, moving, 'node-4 serves exactly the members that moved');
  t.equal(await loadsOf(fourth), loadsBefore, 'and answered them from the shipped state');
  // Their first write after the move takes them over in one conditional write: no reload either.
  for (const memberId of licenses.keys()) {
    const answer = await call(`${fourth.url}/v1/members/${memberId}/licenses`, 'POST', { deviceId: 'd1', titleId: 't2' });
    t.equal(answer.status, 201, `${memberId}: a second acquire after the move`);
  }
  t.equal(await loadsOf(fourth), loadsBefore, 'no conflict, no reload');
});

t.test('a drain under load with live migration: every request answered, every acknowledged acquire stored', async (t) => {
  const members = Array.from({ length: 60 }, (_, i) => `lmn-load-${cluster.clusterId}-${i}`);
  let targets = cluster.nodes.map((node) => node.url);
  const load = startEdgeLoad({ targets: () => targets, members, concurrency: 6 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const drain = await cluster.admin('POST', '/v1/admin/cluster/nodes/node-2/drain');
  t.equal(drain.status, 200, 'drain applied');
  await waitFor('the drain handoff', () => movesSettled(cluster), 60_000);
  const drained = await nodeStatus('node-2');
  t.equal(drained.membersInMemory, 0, 'the drained node holds no member');
  t.ok((drained.moves?.installed ?? 0) > 0, `its members were shipped (${JSON.stringify(drained.moves)})`);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  targets = targets.filter((url) => url !== cluster.nodes.find((n) => n.id === 'node-2')?.url);
  const record = await load.stop();
  const failures = record.attempts.filter((a) => a.status >= 500 || a.status === 0);
  t.same(record.unanswered, [], 'every request got a non-5xx answer within its retries');
  t.same(
    failures.filter((a) => a.status !== 503 || !MOVE_CODES.has(a.code ?? '')),
    [],
    'every 5xx was a retryable 503 of a move',
  );
  t.ok(record.acquired.length > 20, `the load acquired licenses (${record.acquired.length})`);
  const { missing, problems } = await missingAcknowledged(store, record.acquired);
  t.same(missing, [], 'every acknowledged acquire is in the store');
  t.same(problems, [], 'histories are gap-free and never over the device limit');
});

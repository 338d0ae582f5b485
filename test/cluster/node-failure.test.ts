/**
 * A node is killed (SIGKILL) under load: once the others notice its silence they take it out
 * of the ring and serve its members, and nothing it acknowledged is lost.
 */
import t from 'tap';
import type { LaunchedCluster } from '../../cluster/launcher.ts';
import type { ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import type { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { call, missingAcknowledged, MOVE_CODES, openStore, startEdgeLoad, startTestCluster, waitFor } from './cluster-support.ts';

let cluster: LaunchedCluster;
let store: TieredEventStore;
t.before(async () => {
  cluster = await startTestCluster(3, { failureTimeoutMs: 3000 });
  store = await openStore();
});
t.teardown(async () => {
  await cluster?.stop();
  await store?.close();
});

t.test('SIGKILL under load: the others take its members over, nothing acknowledged is lost', async (t) => {
  const members = Array.from({ length: 45 }, (_, i) => `failure-${cluster.clusterId}-${i}`);
  const victim = cluster.nodes.find((node) => node.id === 'node-3');
  if (!victim) throw new Error('no node-3');
  // Members the victim owns before the failure.
  const victims: string[] = [];
  for (const memberId of members) {
    const answer = await call(`${cluster.nodes[0]?.url}/v1/members/${memberId}/check?deviceId=d1&titleId=t1`, 'GET');
    if (answer.servedBy === victim.id) victims.push(memberId);
  }
  t.ok(victims.length > 0, `node-3 owns some members (${victims.length})`);

  let targets = cluster.nodes.map((node) => node.url);
  const load = startEdgeLoad({ targets: () => targets, members, concurrency: 6, maxRetryMs: 20_000 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  targets = targets.filter((url) => url !== victim.url); // the edge's balancer drops it
  await waitFor(
    'node-3 to leave the ring',
    async () => ((await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription).nodes.find((n) => n.id === 'node-3')?.state === 'removed',
    30_000,
  );
  const noticedAfterMs = Date.now() - killedAt;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const record = await load.stop();

  t.ok(noticedAfterMs < 15_000, `the failure was noticed after ${noticedAfterMs} ms`);
  for (const memberId of victims) {
    const answer = await call(`${targets[0]}/v1/members/${memberId}/licenses`, 'GET');
    t.equal(answer.status, 200, `node-3's member ${memberId} is served`);
    t.not(answer.servedBy, victim.id);
  }
  t.same(record.unanswered, [], 'every request got a non-5xx answer within its retries');
  // Requests the edge had in flight to the node when it died lose their connection: at most
  // one per edge worker, and only to that node. Every answer from a live node was 2xx-4xx or a
  // retryable 503 (the owner unreachable until the failure was noticed).
  const dropped = record.attempts.filter((a) => a.status === 0);
  t.ok(dropped.length <= 6 && dropped.every((a) => a.target === victim.url), `only in-flight requests to the killed node were dropped (${dropped.length})`);
  t.same(
    record.attempts.filter((a) => a.status >= 500 && (a.status !== 503 || !MOVE_CODES.has(a.code ?? ''))),
    [],
    'every 5xx was a retryable 503',
  );
  t.ok(record.acquired.length > 30, `the load acquired licenses (${record.acquired.length})`);
  const { missing, problems } = await missingAcknowledged(store, record.acquired);
  t.same(missing, [], 'every acknowledged acquire is in the store, the dead node’s too');
  t.same(problems, [], 'histories are gap-free and never over the device limit');
});

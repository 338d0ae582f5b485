/**
 * Prototype keys, cluster: two real cluster nodes in this process, named `__proto__` and
 * `constructor`, each with a worker thread, on the test Cassandra (a keyspace of this run's own,
 * dropped at the end: the member ids are the prototype names themselves, and a keyspace shared
 * with earlier runs would already hold their histories). The ring of nodes and the ring of
 * workers both route every member id; the barrage is spread over both nodes, so about half of
 * it is forwarded. Then: both nodes and their workers are alive, no prototype changed, the
 * cluster's own reports count nodes named after prototype properties, a normal acquire and
 * /metrics work, and every member's licenses are the same after the cluster restarts.
 */
import { randomUUID } from 'node:crypto';
import cassandra from 'cassandra-driver';
import t from 'tap';
import type { ClusterChange, ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import type { ServiceConfig } from '../../src/config/types.ts';
import { createServer, type Server } from '../../src/server.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { T0, TEST_ADMIN_TOKEN, testConfig, testRules } from '../support/fixtures.ts';
import { checkAbsentNamesAndListAll, hostileRules, httpClient, licensesOf, runBarrage, ID_NAMES } from './prototype-keys-barrage.ts';
import { actorWorkers, prototypeChanges, prototypeSnapshot, workerPrototypes } from './prototype-keys-support.ts';

const NODE_IDS = ['__proto__', 'constructor'] as const;
const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

interface Node {
  id: string;
  server: Server;
  edge: string;
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ok()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

t.test('every prototype property name in every id position: a cluster of nodes named __proto__ and constructor', async (t) => {
  const before = prototypeSnapshot();
  const keyspace = `prototype_keys_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const settings = cassandraTestSettings({ keyspace });
  const clusterId = `prototype-keys-${randomUUID().slice(0, 8)}`;
  const rules = hostileRules('prototype-keys-cluster-1');
  const nodes = new Map<string, Node>();

  const start = async (id: string, join: string | null): Promise<Node> => {
    const service: Partial<ServiceConfig> = {
      host: '127.0.0.1',
      port: 0,
      store: 'cassandra',
      cassandra: settings,
      actors: { workers: 1, maxQueuedPerMember: 64, maxPendingPerWorker: 10_000, groupCommit: true },
      rateLimit: { perMemberPerSecond: 100_000, burst: 100_000 },
      cluster: {
        clusterId,
        nodeId: id,
        advertise: null,
        join,
        pollIntervalMs: 200,
        heartbeatIntervalMs: 200,
        failureTimeoutMs: 15_000,
        moveConcurrency: 16,
        liveMigration: true,
        forwardTimeoutMs: 10_000,
        forwardConnections: 8,
        vnodes: 160,
      },
    };
    const server = await createServer(testConfig(rules, service), { manualClockStart: T0, watchRules: false });
    try {
      const { edge } = await server.listen();
      const node = { id, server, edge };
      nodes.set(id, node);
      return node;
    } catch (error) {
      await server.close().catch(() => {});
      throw error;
    }
  };
  const stop = async (id: string): Promise<void> => {
    const node = nodes.get(id);
    nodes.delete(id);
    await node?.server.close();
  };
  const client = httpClient(() => [...nodes.values()].map((node) => node.edge));
  t.teardown(async () => {
    await client.close();
    for (const id of [...nodes.keys()].reverse()) await stop(id).catch(() => {});
    const raw = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
    try {
      await raw.connect();
      await raw.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    } finally {
      await raw.shutdown();
    }
  });

  const [first, second] = NODE_IDS;
  const a = await start(first, null);
  await start(second, a.edge);
  const rebalance = await client.send('POST', '/v1/admin/cluster/rebalance', { headers: ADMIN });
  t.equal(rebalance.status, 200, `the joining node gets members: ${rebalance.text.slice(0, 200)}`);
  const epoch = (rebalance.body as ClusterChange).view.epoch;
  await waitFor('both nodes to follow the rebalance', () => [...nodes.values()].every((node) => node.server.cluster?.started && node.server.cluster.view.epoch >= epoch), 20_000);
  const { ring } = (await client.send('GET', '/v1/admin/cluster', { headers: ADMIN })).body as ClusterDescription;
  t.same(ring.owners, [...NODE_IDS].sort(), 'both nodes are in the ring, by their own names');
  for (const id of NODE_IDS) {
    t.ok(Object.hasOwn(ring.shares, id) && (ring.shares[id] ?? 0) > 0.3, `node ${id} owns its share of the members (${ring.shares[id]})`);
  }
  const workersBefore = actorWorkers(await workerPrototypes());
  t.equal(workersBefore.length, NODE_IDS.length, `the inspector sees the actor worker threads: ${workersBefore.map((w) => w.title).join(', ')}`);
  t.same(
    workersBefore.filter((w) => w.object.join() !== Object.getOwnPropertyNames(Object.prototype).sort().join()),
    [],
    "each one's Object.prototype has the names this thread's has",
  );

  const started = Date.now();
  const { findings, members } = await runBarrage(client, { nodeIds: NODE_IDS });
  t.same(findings.problems, [], `${findings.checked} answers to ${ID_NAMES.length} names were the ones expected`);
  t.ok(findings.checked > ID_NAMES.length * 50, `the barrage checked ${findings.checked} answers in ${Date.now() - started} ms`);
  const servedBy = new Set<string>();
  for (const member of members.slice(0, 40)) {
    const answer = await client.send('GET', `/v1/members/${encodeURIComponent(member)}/licenses`);
    servedBy.add(String(answer.headers['x-served-by']));
  }
  t.same([...servedBy].sort(), [...NODE_IDS].sort(), 'members are served by both nodes (requests were forwarded)');

  t.same(prototypeChanges(before), [], 'this process: Object.prototype and Function.prototype unchanged');
  const workersAfter = actorWorkers(await workerPrototypes());
  t.same(
    workersAfter.map((w) => w.workerId),
    workersBefore.map((w) => w.workerId),
    'the same worker threads are alive',
  );
  t.same(workersAfter, workersBefore, 'every worker thread: prototype property names unchanged');
  for (const node of nodes.values()) {
    t.equal((await node.server.pool?.stats())?.length, 1, `node ${node.id}'s worker answers`);
    t.equal((await client.send('GET', '/healthz')).status, 200);
  }

  const normal = await client.send('POST', '/v1/members/alice/licenses', { body: { deviceId: 'phone-1', titleId: 'open-a', plan: 'standard' } });
  t.equal(normal.status, 201, `a normal acquire works: ${normal.text}`);
  for (const node of nodes.values()) {
    const metrics = await fetch(`${node.edge}/metrics`);
    t.equal(metrics.status, 200, `node ${node.id}: /metrics answers`);
  }

  for (const node of nodes.values()) t.match(node.server.rules.replace(testRules({ version: 'prototype-keys-cluster-absent' })), { outcome: 'applied' });
  const { everyone, listed } = await checkAbsentNamesAndListAll(t, client, members, before);

  // The operator drains node constructor: its members move to node __proto__. The plan and the
  // handoff's progress count the moves by target node id, in objects where `__proto__` is a key.
  const b = nodes.get(second) as Node;
  const held = (await b.server.pool?.memberIds())?.length ?? 0;
  t.ok(held > 0, `node ${second} holds ${held} members`);
  const drained = await client.send('POST', `/v1/admin/cluster/nodes/${second}/drain`, { headers: ADMIN });
  t.equal(drained.status, 200, `the drain is made: ${drained.text.slice(0, 200)}`);
  t.same(
    (drained.body as Partial<ClusterChange>).plan?.moves,
    [{ from: second, to: first, members: held }],
    `the plan moves all ${held} of node ${second}'s members to node ${first}`,
  );
  let progress: { planned: number; byTarget: Record<string, number>; finishedAt: number | null } | null = null;
  await waitFor(
    `node ${second}'s handoff to finish`,
    async () => {
      const cluster = await client.send('GET', '/v1/admin/cluster', { headers: ADMIN });
      progress = (cluster.body as Partial<ClusterDescription>).nodes?.find((node) => node.id === second)?.moves ?? null;
      return progress?.finishedAt != null && progress.planned === held;
    },
    30_000,
  );
  const done = progress as unknown as { byTarget: Record<string, number> };
  t.same(Object.entries(done.byTarget), [[first, held]], `the handoff counts ${held} members sent to node ${first}`);

  // The cluster stops (node constructor leaves, node __proto__ stops last) and node __proto__
  // starts again alone, on another port.
  await stop(second);
  await stop(first);
  await start(first, null);
  await waitFor('the restarted node to follow the cluster', () => nodes.get(first)?.server.cluster?.started === true, 20_000);
  const relisted = await licensesOf(client, everyone);
  t.same(
    everyone.filter((member) => relisted.get(member) !== listed.get(member)),
    [],
    `after the cluster restarts, each of the ${everyone.length} members has the same licenses`,
  );
  t.same(prototypeChanges(before), [], 'and no prototype changed across the restart');
});

/**
 * The two cluster routes the dashboard added (src/cluster/cluster-routes.ts), on a one-node
 * cluster over an in-memory membership (no Cassandra): GET /v1/admin/cluster/preview answers
 * the plan of a rebalance, drain or remove and changes nothing; GET
 * /v1/admin/cluster/nodes/:id/metrics/history reads a node's history through this node.
 */
import t, { type Test } from 'tap';
import { InMemoryMembershipStore } from '../../src/cluster/membership-store.ts';
import { parseConfig } from '../../src/config/load.ts';
import { createServer, type Server } from '../../src/server.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';

async function clusterNode(t: Test): Promise<Server> {
  const config = parseConfig(
    {
      service: {
        host: '127.0.0.1',
        port: 0,
        actors: { workers: 0 },
        admin: { token: TEST_ADMIN_TOKEN, port: null },
        rateLimit: null,
        store: 'cassandra', // what cluster mode asks for; the events go to the SQLite store given below
        cluster: { clusterId: 'dashboard-preview', nodeId: 'solo' },
      },
      rules: testRules(),
    },
    null,
  );
  const server = await createServer(config, { store: new SqliteEventStore(':memory:'), membership: new InMemoryMembershipStore(), watchRules: false });
  t.teardown(() => server.close());
  await server.listen();
  return server;
}

interface NodeShown {
  id: string;
  state: string;
}
interface Answer {
  code?: string;
  field?: string;
  message?: string;
  epoch?: number;
  intervalMs?: number;
  points?: unknown;
  nodes?: NodeShown[];
  ring?: { owners: string[] };
  plan?: { fromEpoch: number; toEpoch: number; keyspaceShareMoving: number };
  view?: { nodes: NodeShown[] };
}

const states = (nodes: NodeShown[] | undefined) => (nodes ?? []).map((n) => [n.id, n.state]);
const stateOf = (answer: Answer, id: string) => answer.view?.nodes.find((n) => n.id === id)?.state;

async function call(s: Server, method: 'GET' | 'POST', url: string, body?: unknown) {
  const res = await s.app.inject({ method, url, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, ...(body === undefined ? {} : { payload: body as object }) });
  return { status: res.statusCode, body: JSON.parse(res.body) as Answer, raw: res.body };
}

t.test('preview: the plan and the view a change would make, nothing changed', async (t) => {
  const s = await clusterNode(t);
  const before = await call(s, 'GET', '/v1/admin/cluster');
  t.equal(before.status, 200, before.raw);
  const epoch = before.body.epoch ?? -1;
  t.equal((await call(s, 'POST', '/v1/admin/cluster/nodes', { id: 'second', address: 'http://127.0.0.1:1' })).status, 201, 'a joining node (never started)');
  const joined = (await call(s, 'GET', '/v1/admin/cluster')).body.epoch ?? -1;
  t.equal(joined, epoch + 1);

  const preview = await call(s, 'GET', '/v1/admin/cluster/preview?change=rebalance');
  t.equal(preview.status, 200, preview.raw);
  t.equal(preview.body.plan?.fromEpoch, joined, 'from the current epoch');
  t.equal(preview.body.plan?.toEpoch, joined + 1, 'to the next');
  t.ok((preview.body.plan?.keyspaceShareMoving ?? 0) > 0, 'the joining node would take a share of the key space');
  t.same(
    states(preview.body.view?.nodes),
    [
      ['solo', 'active'],
      ['second', 'active'],
    ],
    'the view it would make: the joining node active',
  );
  const after = await call(s, 'GET', '/v1/admin/cluster');
  t.equal(after.body.epoch, joined, 'the epoch did not move');
  t.same(after.body.ring?.owners, ['solo'], 'the ring did not change');
  t.same(
    states(after.body.nodes),
    [
      ['solo', 'active'],
      ['second', 'joining'],
    ],
    'the second node is still joining',
  );

  const drain = await call(s, 'GET', '/v1/admin/cluster/preview?change=drain&node=second');
  t.equal(drain.status, 200, drain.raw);
  t.equal(stateOf(drain.body, 'second'), 'draining');
  const remove = await call(s, 'GET', '/v1/admin/cluster/preview?change=remove&node=second');
  t.equal(remove.status, 200, remove.raw);
  t.equal(stateOf(remove.body, 'second'), 'removed');
  t.equal((await call(s, 'GET', '/v1/admin/cluster')).body.epoch, joined, 'still the same epoch after three previews');
});

t.test('preview refuses what the change would refuse, with the catalog codes', async (t) => {
  const s = await clusterNode(t);
  const cases: [string, number, string][] = [
    ['/v1/admin/cluster/preview', 400, 'VALIDATION_FAILED'],
    ['/v1/admin/cluster/preview?change=explode', 400, 'VALIDATION_FAILED'],
    ['/v1/admin/cluster/preview?change=drain', 400, 'VALIDATION_FAILED'],
    ['/v1/admin/cluster/preview?change=rebalance&extra=1', 400, 'VALIDATION_FAILED'],
    ['/v1/admin/cluster/preview?change=drain&node=nobody', 404, 'NODE_NOT_FOUND'],
    ['/v1/admin/cluster/preview?change=remove&node=solo', 409, 'CLUSTER_CHANGE_REFUSED'],
  ];
  for (const [url, status, code] of cases) {
    const res = await call(s, 'GET', url);
    t.equal(res.status, status, `${url}: ${status} (${res.raw})`);
    t.equal(res.body.code, code, `${url}: ${code}`);
  }
  const missingNode = await call(s, 'GET', '/v1/admin/cluster/preview?change=drain');
  t.equal(missingNode.body.field, 'querystring.node', 'names the missing field');
  const noToken = await s.app.inject({ url: '/v1/admin/cluster/preview?change=rebalance' });
  t.equal(noToken.statusCode, 401, 'behind the token');
});

t.test("a node's metrics history through this node; an unknown node 404, a silent one 503 NODE_UNREACHABLE", async (t) => {
  const s = await clusterNode(t);
  const own = await call(s, 'GET', '/v1/admin/cluster/nodes/solo/metrics/history?seconds=60');
  t.equal(own.status, 200, own.raw);
  t.equal(own.body.intervalMs, 5000, "the node's own history answer");
  t.ok(Array.isArray(own.body.points));
  t.equal((await call(s, 'GET', '/v1/admin/cluster/nodes/nobody/metrics/history')).body.code, 'NODE_NOT_FOUND');
  t.equal((await call(s, 'GET', '/v1/admin/cluster/nodes/solo/metrics/history?seconds=abc')).body.code, 'VALIDATION_FAILED');
  for (const seconds of ['5', '601']) {
    const outOfRange = await call(s, 'GET', `/v1/admin/cluster/nodes/solo/metrics/history?seconds=${seconds}`);
    t.equal(outOfRange.status, 400, `seconds=${seconds}: the caller's 400, checked before asking the node`);
    t.equal(outOfRange.body.field, 'querystring.seconds');
  }
  await call(s, 'POST', '/v1/admin/cluster/nodes', { id: 'ghost', address: 'http://127.0.0.1:1' });
  const ghost = await call(s, 'GET', '/v1/admin/cluster/nodes/ghost/metrics/history');
  t.equal(ghost.status, 503, ghost.raw);
  t.equal(ghost.body.code, 'NODE_UNREACHABLE');
  t.match(ghost.body.message, /ghost/, 'names the node');
  const noToken = await s.app.inject({ url: '/v1/admin/cluster/nodes/solo/metrics/history' });
  t.equal(noToken.statusCode, 401, 'behind the token');
});

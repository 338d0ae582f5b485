/** The membership's pure rules: changes, the ring of an epoch, failure detection, move plans. */
import t from 'tap';
import {
  addNode,
  ClusterChangeError,
  drainNode,
  firstView,
  keyspaceShareMoving,
  planMoves,
  rebalance,
  removeNode,
  ringNodes,
  ringOf,
  silentNodes,
  type ClusterView,
} from '../../src/cluster/view.ts';

const NOW = 1_000_000;
const node = (id: string) => ({ id, address: `http://127.0.0.1:${3000 + Number(id.slice(1))}` });

function threeNodes(): ClusterView {
  let view = firstView('c', node('n1'), NOW);
  view = addNode(view, node('n2'), NOW) as ClusterView;
  view = addNode(view, node('n3'), NOW) as ClusterView;
  return rebalance(view, NOW);
}

t.test('joining nodes get members only at a rebalance; each change is the next epoch', async (t) => {
  let view = firstView('c', node('n1'), NOW);
  t.equal(view.epoch, 1);
  view = addNode(view, node('n2'), NOW) as ClusterView;
  t.equal(view.epoch, 2);
  t.same(ringNodes(view), ['n1'], 'a joining node is not in the ring');
  t.equal(addNode(view, node('n2'), NOW), null, 'joining again at the same address changes nothing');
  view = rebalance(view, NOW);
  t.equal(view.epoch, 3);
  t.same(ringNodes(view), ['n1', 'n2']);
});

t.test('drain takes a node out of the ring; remove marks it removed; the last node cannot go', async (t) => {
  let view = threeNodes();
  view = drainNode(view, 'n2', NOW);
  t.same(ringNodes(view), ['n1', 'n3']);
  t.equal(view.nodes.find((n) => n.id === 'n2')?.state, 'draining');
  view = removeNode(view, 'n2', NOW);
  t.equal(view.nodes.find((n) => n.id === 'n2')?.state, 'removed');
  t.throws(() => drainNode(view, 'n2', NOW), { code: 'NODE_NOT_FOUND' }, 'a removed node cannot be drained');
  t.throws(() => removeNode(view, 'n9', NOW), { code: 'NODE_NOT_FOUND' });
  view = removeNode(view, 'n3', NOW);
  t.throws(() => removeNode(view, 'n1', NOW), ClusterChangeError, 'the ring never becomes empty');
  t.throws(() => drainNode(view, 'n1', NOW), { code: 'CLUSTER_CHANGE_REFUSED' });
});

t.test('failure detection: silent active or draining nodes, measured from the change for a node never seen', async (t) => {
  const view = { ...threeNodes(), changedAt: NOW };
  const beats = new Map([
    ['n1', NOW + 9000],
    ['n2', NOW + 1000],
  ]);
  t.same(silentNodes(view, beats, NOW + 10_000, 5000).sort(), ['n2', 'n3']);
  t.same(silentNodes(view, beats, NOW + 4000, 5000), [], 'nobody is silent within the timeout');
});

t.test('moves: adding a fourth node moves about a quarter of the members, all to the new node', async (t) => {
  const before = threeNodes();
  const after = rebalance(addNode(before, node('n4'), NOW) as ClusterView, NOW);
  const from = ringOf(before, 160);
  const to = ringOf(after, 160);
  const members = Array.from({ length: 10_000 }, (_, i) => `member-${i}`);
  const plan = planMoves(from, to, members);
  let moved = 0;
  for (const targets of plan.values()) {
    t.same([...targets.keys()], ['n4'], 'members only move to the new node');
    for (const count of targets.values()) moved += count;
  }
  t.ok(moved / members.length > 0.2 && moved / members.length < 0.3, `about 1/4 moved (${moved / members.length})`);
  const share = keyspaceShareMoving(from, to);
  t.ok(Math.abs(share - moved / members.length) < 0.03, 'the sampled key-space share agrees');
  t.equal(keyspaceShareMoving(from, from), 0, 'the same ring moves nothing');
});

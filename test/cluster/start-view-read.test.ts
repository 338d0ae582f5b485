/**
 * A cluster node's start reads the cluster view again when the store answers STORE_UNAVAILABLE
 * (bounded): with one Cassandra node cut off from its peers, the SERIAL read it coordinates times
 * out, and a node that exited on it had already joined and was given members while gone
 * (test/faults/three-nodes-partition.test.ts). Its join, answered 503 by the member it joins
 * through, is sent again the same way. Other errors still fail the start at once.
 */
import t from 'tap';
import { ClusterNode, type LocalActors } from '../../src/cluster/cluster-node.ts';
import { InMemoryMembershipStore } from '../../src/cluster/membership-store.ts';
import { PeerCallError, type Peers } from '../../src/cluster/peers.ts';
import { addNode, firstView, type ClusterView } from '../../src/cluster/view.ts';
import type { ClusterConfig } from '../../src/config/types.ts';
import { StoreUnavailableError } from '../../src/errors/catalog.ts';

const silentLog = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof ClusterNode>[0]['log'];

/** A membership store whose first `failures` view reads fail with `error`. */
class FailingReads extends InMemoryMembershipStore {
  reads = 0;
  constructor(
    private failures: number,
    private readonly error: () => Error,
  ) {
    super();
  }

  override async latest(clusterId: string): Promise<ClusterView | null> {
    this.reads += 1;
    if (this.failures > 0) {
      this.failures -= 1;
      throw this.error();
    }
    return super.latest(clusterId);
  }
}

function nodeOver(store: FailingReads, join: { through: string; peers: Peers } | null = null): ClusterNode {
  const settings: ClusterConfig = {
    clusterId: 'start-view-read',
    nodeId: 'a',
    advertise: null,
    join: join?.through ?? null,
    pollIntervalMs: 60_000,
    heartbeatIntervalMs: 60_000,
    failureTimeoutMs: 4000,
    moveConcurrency: 8,
    liveMigration: true,
    forwardTimeoutMs: 1000,
    forwardConnections: 1,
    vnodes: 16,
  };
  const actors = { memberIds: async () => [], evict: async () => true } as unknown as LocalActors;
  return new ClusterNode({ settings, store, actors, peers: join?.peers ?? ({} as Peers), log: silentLog });
}

const unavailable = (): Error =>
  new StoreUnavailableError('event store unavailable during reading the cluster view: Server timeout during write query at consistency LOCAL_SERIAL');

t.test('a view read that times out is read again, and the node starts', async (t) => {
  const store = new FailingReads(2, unavailable);
  const node = nodeOver(store);
  t.teardown(() => node.close());
  await node.start('http://a');
  t.ok(node.started, 'started');
  t.equal(node.view.nodes[0]?.id, 'a', 'on the view it bootstrapped');
  t.ok(store.reads > 2, `the failed reads were made again (${store.reads} reads)`);
});

t.test('bounded: a store that never answers still fails the start, with STORE_UNAVAILABLE', async (t) => {
  const store = new FailingReads(1000, unavailable);
  const node = nodeOver(store);
  t.teardown(() => node.close());
  const started = Date.now();
  await t.rejects(node.start('http://a'), { code: 'STORE_UNAVAILABLE' });
  t.equal(store.reads, 5, 'five reads');
  t.ok(Date.now() - started < 10_000, 'within seconds');
  t.notOk(node.started);
});

t.test('any other error fails the start at once', async (t) => {
  const store = new FailingReads(1, () => new Error('a bug'));
  const node = nodeOver(store);
  t.teardown(() => node.close());
  await t.rejects(node.start('http://a'), { message: 'a bug' });
  t.equal(store.reads, 1, 'one read');
});

/**
 * The member a node joins through answers 503 STORE_UNAVAILABLE while its own view change cannot
 * reach a quorum (seen in the partition suite: node-2 exited at launch). `joins` fail first, then
 * the join is applied as the member would apply it, in the shared membership store.
 */
function joinPeers(store: InMemoryMembershipStore, failures: number, status = 503): { peers: Peers; calls: () => number } {
  let calls = 0;
  const peers = {
    async call(address: string, method: string, path: string, body: { id: string; address: string }) {
      calls += 1;
      if (calls <= failures) throw new PeerCallError(`${method} ${address}${path} answered ${status}: {"code":"STORE_UNAVAILABLE"}`, status);
      const current = await store.latest('start-view-read');
      const next = current && addNode(current, body, Date.now());
      if (next) await store.propose(next);
      return {};
    },
  } as unknown as Peers;
  return { peers, calls: () => calls };
}

async function bootstrapped(): Promise<FailingReads> {
  const store = new FailingReads(0, unavailable);
  await store.propose(firstView('start-view-read', { id: 'first', address: 'http://first' }, Date.now()));
  return store;
}

t.test('a join answered 503 is sent again, and the node starts as joining', async (t) => {
  const store = await bootstrapped();
  const { peers, calls } = joinPeers(store, 2);
  const node = nodeOver(store, { through: 'http://first', peers });
  t.teardown(() => node.close());
  await node.start('http://a');
  t.equal(calls(), 3, 'two refused joins, then one applied');
  t.equal(node.view.nodes.find((n) => n.id === 'a')?.state, 'joining');
});

t.test('bounded: a member that keeps answering 503 fails the start; another status fails it at once', async (t) => {
  const store = await bootstrapped();
  const always = joinPeers(store, 1000);
  const node = nodeOver(store, { through: 'http://first', peers: always.peers });
  t.teardown(() => node.close());
  await t.rejects(node.start('http://a'), { name: 'PeerCallError', status: 503 });
  t.equal(always.calls(), 5, 'five joins');

  const refused = joinPeers(store, 1000, 401);
  const other = nodeOver(store, { through: 'http://first', peers: refused.peers });
  t.teardown(() => other.close());
  await t.rejects(other.start('http://a'), { name: 'PeerCallError', status: 401 });
  t.equal(refused.calls(), 1, 'one join');
});

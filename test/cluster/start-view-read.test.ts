/**
 * A cluster node's start reads the cluster view again when the store answers STORE_UNAVAILABLE
 * (bounded): with one Cassandra node cut off from its peers, the SERIAL read it coordinates times
 * out, and a node that exited on it had already joined and was given members while gone
 * (test/faults/three-nodes-partition.test.ts). Other errors still fail the start at once.
 */
import t from 'tap';
import { ClusterNode, type LocalActors } from '../../src/cluster/cluster-node.ts';
import { InMemoryMembershipStore } from '../../src/cluster/membership-store.ts';
import type { Peers } from '../../src/cluster/peers.ts';
import type { ClusterView } from '../../src/cluster/view.ts';
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

function nodeOver(store: FailingReads): ClusterNode {
  const settings: ClusterConfig = {
    clusterId: 'start-view-read',
    nodeId: 'a',
    advertise: null,
    join: null,
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
  return new ClusterNode({ settings, store, actors, peers: {} as Peers, log: silentLog });
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

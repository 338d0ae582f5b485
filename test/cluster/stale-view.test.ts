/**
 * ClusterNode.ensureFresh in process, on a clock the test moves: a view younger than half the
 * failure timeout is used as is; an older one is read again first; a read that fails or hangs
 * makes it 503 NOT_READY (bounded); a read already in flight from before the staleness does not
 * count. The same rule on real nodes after a SIGSTOP: stale-reader.test.ts.
 */
import t, { type Test } from 'tap';
import { ClusterNode, type LocalActors } from '../../src/cluster/cluster-node.ts';
import { InMemoryMembershipStore } from '../../src/cluster/membership-store.ts';
import type { Peers } from '../../src/cluster/peers.ts';
import { addNode, removeNode, type ClusterView } from '../../src/cluster/view.ts';
import type { ClusterConfig } from '../../src/config/types.ts';

const FAILURE_TIMEOUT_MS = 4000;
const STALE_AFTER_MS = FAILURE_TIMEOUT_MS / 2;
const silentLog = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof ClusterNode>[0]['log'];

/** A membership store whose view reads the test counts, fails or holds. */
class ControlledMembership extends InMemoryMembershipStore {
  reads = 0;
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  /** Resolves held reads (mode 'hang'). */
  release: (() => void) | null = null;

  override async latest(clusterId: string): Promise<ClusterView | null> {
    this.reads += 1;
    if (this.mode === 'fail') throw new Error('no quorum for a SERIAL read');
    if (this.mode === 'hang') await new Promise<void>((resolve) => (this.release = resolve));
    return super.latest(clusterId);
  }
}

async function startNode(
  t: Test,
  actors: LocalActors = { memberIds: async () => [], evict: async () => true } as unknown as LocalActors,
): Promise<{ node: ClusterNode; store: ControlledMembership; clock: { now: number } }> {
  const store = new ControlledMembership();
  const clock = { now: 1_000_000 };
  const settings: ClusterConfig = {
    clusterId: 'stale-view',
    nodeId: 'a',
    advertise: null,
    join: null,
    pollIntervalMs: 60_000,
    heartbeatIntervalMs: 60_000,
    failureTimeoutMs: FAILURE_TIMEOUT_MS,
    moveConcurrency: 8,
    liveMigration: true,
    forwardTimeoutMs: 1000,
    forwardConnections: 1,
    vnodes: 16,
  };
  const node = new ClusterNode({ settings, store, actors, peers: {} as Peers, log: silentLog, now: () => clock.now });
  await node.start('http://a');
  t.teardown(() => node.close());
  return { node, store, clock };
}

t.test('a young view is used as is, an old one is read again first', async (t) => {
  const { node, store, clock } = await startNode(t);
  t.equal(node.staleAfterMs, STALE_AFTER_MS);
  const reads = store.reads;
  clock.now += STALE_AFTER_MS;
  await node.ensureFresh();
  t.equal(store.reads, reads, 'no read within the bound');
  clock.now += 1;
  await node.ensureFresh();
  t.equal(store.reads, reads + 1, 'one read past it');
  await node.ensureFresh();
  t.equal(store.reads, reads + 1, 'and the view is young again');
});

t.test('an old view that cannot be read again: 503 NOT_READY, until a read succeeds', async (t) => {
  const { node, store, clock } = await startNode(t);
  clock.now += STALE_AFTER_MS + 1;
  store.mode = 'fail';
  await t.rejects(node.ensureFresh(), { code: 'NOT_READY', status: 503 }, 'a failed read');
  store.mode = 'hang';
  const started = Date.now();
  await t.rejects(node.ensureFresh(), { code: 'NOT_READY' }, 'a read that does not answer');
  const waited = Date.now() - started;
  t.ok(waited >= 900 && waited < 5000, `bounded by the forward timeout (${waited} ms)`);
  store.release?.();
  store.mode = 'ok';
  await node.ensureFresh();
  t.pass('answers again once a read succeeds');
});

t.test('a read in flight from before the staleness does not count', async (t) => {
  const { node, store, clock } = await startNode(t);
  store.mode = 'hang';
  const early = node.refresh(); // started now: it may carry the view from before a pause
  clock.now += STALE_AFTER_MS + 1;
  const reads = store.reads;
  store.mode = 'ok';
  const fresh = node.ensureFresh();
  store.release?.();
  await early;
  await fresh;
  t.equal(store.reads, reads + 1, 'a second read, started after the staleness was seen');
});

t.test('after an epoch jump, a member still owned here is dropped from memory once, before its handoff has run', async (t) => {
  const evicted: string[] = [];
  let listed: (ids: string[]) => void = () => {};
  // The handoff's listing of members in memory waits for the test: the handoff has not run yet.
  const actors = {
    memberIds: () => new Promise<string[]>((resolve) => (listed = resolve)),
    evict: async (id: string) => {
      evicted.push(id);
      return true;
    },
  } as unknown as LocalActors;
  const { node, store, clock } = await startNode(t, actors);
  const first = (await store.latest('stale-view')) as ClusterView;
  // Two views this node misses (a node joins, then leaves): epoch 1 -> 3, node a owns everything.
  const joined = addNode(first, { id: 'b', address: 'http://b' }, clock.now) as ClusterView;
  await store.propose(joined);
  await store.propose(removeNode(joined, 'b', clock.now));
  clock.now += STALE_AFTER_MS + 1;
  await node.ensureFresh();
  t.equal(node.view.epoch, 3, 'jumped to epoch 3');
  await node.reloadIfJumped('m1');
  await node.reloadIfJumped('m1');
  t.same(evicted, ['m1'], 'dropped once, so it reloads from the store');
  listed([]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await node.reloadIfJumped('m2');
  t.same(evicted, ['m1'], 'once the handoff has run, memory is trusted again');
});

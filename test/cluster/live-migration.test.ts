/**
 * Live migration (docs/cluster.md): a planned move ships each member's state from its old owner
 * to its new one, which installs it without reading the store. Driven here in one process: two
 * ClusterNodes, each over its own LicenseService, one real Cassandra store, and the peer channel
 * replaced by direct calls through JSON (so a test can make a call fail). Proves: moved members
 * arrive with no load on the new owner; requests for an announced member wait for it; a failed
 * shipment or a refused announcement falls back to loads; a shipped state behind the store is
 * caught by its first append and reloaded; the fence still stops the old owner.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ClusterNode, type NodeStatus } from '../../src/cluster/cluster-node.ts';
import type { MembershipStore } from '../../src/cluster/membership-store.ts';
import type { Peers } from '../../src/cluster/peers.ts';
import { rebalance, type ClusterView } from '../../src/cluster/view.ts';
import type { ClusterConfig } from '../../src/config/types.ts';
import { RulesSource } from '../../src/config/rules-source.ts';
import { systemClock } from '../../src/service/clock.ts';
import { LicenseService, type CommandResult } from '../../src/service/license-service.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import type { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import type { OwnershipFence } from '../../src/store/event-store.ts';
import { historyOf, openStore, RULES } from './cluster-support.ts';

let store: TieredEventStore;
t.before(async () => {
  store = await openStore();
});
t.teardown(async () => {
  await store?.close();
});

const silentLog = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof ClusterNode>[0]['log'];

function service(ownership: (memberId: string) => OwnershipFence | null): LicenseService {
  return new LicenseService({
    repository: new MemberRepository(store, { eventCount: 1000, replayMs: 1_000_000 }),
    rules: new RulesSource(RULES),
    clock: systemClock,
    maxMembersInMemory: 10_000,
    conflictRetries: 3,
    ownership,
  });
}

function licenseIdOf(result: CommandResult): string {
  if (result.outcome !== 'done' || result.answer.kind !== 'acquire') throw new Error(`not acquired: ${JSON.stringify(result)}`);
  return result.answer.licenseId;
}

const acquire = (titleId: string) => ({ type: 'AcquireLicense' as const, deviceId: 'd1', titleId, requestId: randomUUID() });

async function acquiredTitles(memberId: string): Promise<string[]> {
  const rows = await historyOf(store, memberId);
  return rows.map((row) => decodeEvent(row)).flatMap((event) => (event.type === 'LicenseAcquired' ? [event.titleId] : []));
}

t.test('LicenseService: export and install carry a member with no store read', async (t) => {
  const memberId = `lm-svc-${randomUUID()}`;
  const a = service(() => ({ epoch: 1, node: 'a' }));
  const b = service(() => ({ epoch: 2, node: 'b' }));
  const first = licenseIdOf(await a.execute(memberId, acquire('t1')));
  // Requests for the member, announced, wait in its mailbox for the shipment.
  t.equal(await b.expectInstall(memberId, 5000), true, 'announced');
  t.equal(await b.expectInstall(memberId, 5000), false, 'announced once');
  let answered = false;
  const waiting = b.activeLicenses(memberId).then((licenses) => {
    answered = true;
    return licenses;
  });
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.equal(answered, false, 'a request for an announced member waits');
  const shipped = await a.export(memberId);
  t.ok(shipped, 'exported');
  t.same(await a.memberIds(), [], 'the export evicted it');
  t.same(shipped?.owner, { epoch: 1, node: 'a' }, 'it carries the owner the store holds');
  t.equal(await b.install(memberId, JSON.parse(JSON.stringify(shipped)) as typeof shipped), true, 'installed');
  t.same(
    (await waiting).map((license) => license.licenseId),
    [first],
    'the waiting request is answered from the shipped state',
  );
  t.equal(b.stats().loads, 0, 'no load on the new owner');
  t.equal(b.stats().installs, 1);
  // Its first write takes the member over from the shipped owner, in the same conditional write.
  licenseIdOf(await b.execute(memberId, acquire('t2')));
  t.equal(b.stats().loads, 0, 'the first append after the install needed no reload');
  t.same(await acquiredTitles(memberId), ['t1', 't2'], 'both acquires are in the store');
  // The old owner's fence no longer writes: a command it still had (its own load, its own fence) is refused.
  const stale = await a.execute(memberId, acquire('t3')).catch((error: unknown) => error);
  t.equal((stale as { code?: string }).code, 'OWNERSHIP_MOVED', 'the old owner is fenced off');
  t.same(await acquiredTitles(memberId), ['t1', 't2'], 'nothing of the old owner was written');
});

t.test('LicenseService: an install never replaces a member in memory; an announcement waits only so long', async (t) => {
  const memberId = `lm-svc-${randomUUID()}`;
  const a = service(() => ({ epoch: 1, node: 'a' }));
  const b = service(() => ({ epoch: 2, node: 'b' }));
  licenseIdOf(await a.execute(memberId, acquire('t1')));
  const shipped = await a.export(memberId);
  // A request loaded it first (the shipment was late): the store's state stays.
  t.equal((await b.activeLicenses(memberId)).length, 1);
  t.equal(await b.install(memberId, shipped), false, 'not installed over the member in memory');
  t.equal(b.stats().installs, 0);

  const other = `lm-svc-${randomUUID()}`;
  licenseIdOf(await a.execute(other, acquire('t1')));
  t.equal(await b.expectInstall(other, 200), true);
  const started = Date.now();
  t.equal((await b.activeLicenses(other)).length, 1, 'answered from the store once the wait is over');
  t.ok(Date.now() - started >= 150, 'after the bound');
  t.equal(b.stats().loads, 2, 'both loaded from the store');
  t.equal(await b.install(other, await a.export(other)), false, 'a late shipment is dropped');
  t.equal(await b.install(`lm-svc-${randomUUID()}`, null), false, 'a shipment without state installs nothing');
});

t.test('a shipped state behind the store is caught at its first append and reloaded', async (t) => {
  const memberId = `lm-behind-${randomUUID()}`;
  const a = service(() => ({ epoch: 1, node: 'a' }));
  const late = service(() => ({ epoch: 1, node: 'a' }));
  const b = service(() => ({ epoch: 2, node: 'b' }));
  licenseIdOf(await a.execute(memberId, acquire('t1')));
  const shipped = await a.export(memberId);
  // The store moves on after the export: a write of the old owner's that the export did not see.
  licenseIdOf(await late.execute(memberId, acquire('t2')));
  t.equal(await b.install(memberId, shipped), true, 'installed (it cannot know it is behind)');
  t.same(
    (await b.activeLicenses(memberId)).map((l) => l.titleId),
    ['t1'],
    'checks answer from the shipped state until the next write',
  );
  // Its first append names the shipped head: refused as a conflict, the member is reloaded and
  // the command decided again on what the store holds.
  licenseIdOf(await b.execute(memberId, acquire('t3')));
  t.equal(b.stats().loads, 1, 'reloaded once');
  t.same((await b.activeLicenses(memberId)).map((l) => l.titleId).sort(), ['t1', 't2', 't3'], 'memory now holds the store’s truth and the new license');
  t.same(await acquiredTitles(memberId), ['t1', 't2', 't3'], 'each acquire once, in order');
  const stale = await late.execute(memberId, acquire('t4')).catch((error: unknown) => error);
  t.equal((stale as { code?: string }).code, 'OWNERSHIP_MOVED', 'the old owner is fenced off after the takeover');
});

// ---- two ClusterNodes in this process ----

class MemoryMembership implements MembershipStore {
  readonly #views: ClusterView[] = [];
  readonly #beats = new Map<string, number>();
  async latest(): Promise<ClusterView | null> {
    return this.#views.at(-1) ?? null;
  }
  async propose(view: ClusterView): Promise<boolean> {
    if (this.#views.some((v) => v.epoch === view.epoch)) return false;
    this.#views.push(structuredClone(view));
    this.#views.sort((x, y) => x.epoch - y.epoch);
    return true;
  }
  async beat(_clusterId: string, nodeId: string, _address: string, at: number): Promise<void> {
    this.#beats.set(nodeId, at);
  }
  async beats(): Promise<Map<string, number>> {
    return new Map(this.#beats);
  }
  async close(): Promise<void> {}
}

/** The peer channel as direct calls, through JSON as on the wire; `refuse` names paths that fail. */
class DirectPeers {
  readonly nodes = new Map<string, ClusterNode>();
  readonly refuse = new Set<string>();
  readonly calls: string[] = [];
  async call<T>(address: string, _method: string, path: string, body: unknown): Promise<T> {
    this.calls.push(path);
    const node = this.nodes.get(address);
    if (!node) throw new Error(`no node at ${address}`);
    if (this.refuse.has(path)) throw new Error(`POST ${address}${path} answered 503: refused by the test`);
    const sent = JSON.parse(JSON.stringify(body ?? {})) as { epoch: number; members: never[] };
    const answer = await (async (): Promise<unknown> => {
      switch (path) {
        case '/v1/internal/cluster/refresh':
          await node.refresh();
          return {};
        case '/v1/internal/cluster/incoming':
          return node.incoming(sent.epoch, sent.members);
        case '/v1/internal/cluster/install':
          return node.install(sent.epoch, sent.members);
        case '/v1/internal/cluster/warm':
          return node.warm(sent.epoch, sent.members);
        default:
          throw new Error(`unexpected peer call ${path}`);
      }
    })();
    return JSON.parse(JSON.stringify(answer)) as T;
  }
  async close(): Promise<void> {}
}

interface Pair {
  a: { node: ClusterNode; service: LicenseService };
  b: { node: ClusterNode; service: LicenseService };
  peers: DirectPeers;
  close(): Promise<void>;
}

async function pair(liveMigration: boolean): Promise<Pair> {
  const clusterId = `lm-${randomUUID().slice(0, 8)}`;
  const membership = new MemoryMembership();
  const peers = new DirectPeers();
  const make = (nodeId: string) => {
    const settings: ClusterConfig = {
      clusterId,
      nodeId,
      advertise: null,
      join: null,
      pollIntervalMs: 60_000,
      heartbeatIntervalMs: 60_000,
      failureTimeoutMs: 600_000,
      moveConcurrency: 8,
      liveMigration,
      forwardTimeoutMs: 5000,
      forwardConnections: 1,
      vnodes: 160,
    };
    let node: ClusterNode | null = null;
    const svc = service((memberId) => {
      if (!node) throw new Error('not started');
      return node.fenceFor(memberId);
    });
    node = new ClusterNode({ settings, store: membership, actors: svc, peers: peers as unknown as Peers, log: silentLog });
    peers.nodes.set(`http://${nodeId}`, node);
    return { node, service: svc };
  };
  const a = make('a');
  await a.node.start('http://a');
  const b = make('b');
  await b.node.start('http://b'); // registers as joining
  return {
    a,
    b,
    peers,
    async close() {
      await a.node.close();
      await b.node.close();
    },
  };
}

/** Loads `count` members on node a (alone in the ring), a license each; rebalances; returns the ones that moved to b. */
async function moveHalf(p: Pair, count: number): Promise<{ moved: Map<string, string>; status: NodeStatus }> {
  const licenses = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const memberId = `lm-${randomUUID()}`;
    licenses.set(memberId, licenseIdOf(await p.a.service.execute(memberId, acquire('t1'))));
  }
  const { after } = await p.a.node.change((view, now) => rebalance(view, now));
  if (!after) throw new Error('no rebalance');
  const deadline = Date.now() + 30_000;
  let status = await p.a.node.status();
  while (!(status.moves?.epoch === after.epoch && status.moves.finishedAt !== null) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = await p.a.node.status();
  }
  await p.b.node.refresh();
  const moved = new Map([...licenses].filter(([memberId]) => p.b.node.ownerOf(memberId)?.id === 'b'));
  return { moved, status };
}

t.test('a rebalance with live migration: moved members arrive with no store read, and answer right', async (t) => {
  const p = await pair(true);
  t.teardown(() => p.close());
  const { moved, status } = await moveHalf(p, 24);
  t.ok(moved.size > 0, `${moved.size} members moved to b`);
  t.equal(status.moves?.planned, moved.size, 'a planned exactly those');
  t.equal(status.moves?.installed, moved.size, 'b installed every one');
  t.equal(status.moves?.failed, 0);
  t.same((await p.b.node.status()).received, { installed: moved.size, skipped: 0, warmed: 0, failed: 0 }, 'b counts what it received');
  t.equal(p.b.service.stats().loads, 0, 'b read none of them from the store');
  const onA = new Set(await p.a.service.memberIds());
  t.ok(
    [...moved.keys()].every((id) => !onA.has(id)),
    'a holds none of them',
  );
  for (const [memberId, licenseId] of moved) {
    t.same(
      (await p.b.service.activeLicenses(memberId)).map((l) => l.licenseId),
      [licenseId],
      `${memberId}: its license moved with it`,
    );
    licenseIdOf(await p.b.service.execute(memberId, acquire('t2')));
  }
  t.equal(p.b.service.stats().loads, 0, 'still no load on b after a read and a write of each');
  for (const memberId of moved.keys()) t.same(await acquiredTitles(memberId), ['t1', 't2'], `${memberId}: both acquires stored`);
  t.ok(p.peers.calls.includes('/v1/internal/cluster/incoming') && !p.peers.calls.includes('/v1/internal/cluster/warm'), 'announced and shipped, never warmed');
});

t.test('a shipment the new owner does not take falls back to loads on the next request', async (t) => {
  const p = await pair(true);
  t.teardown(() => p.close());
  p.peers.refuse.add('/v1/internal/cluster/install');
  const { moved, status } = await moveHalf(p, 16);
  t.ok(moved.size > 0, `${moved.size} members moved to b`);
  t.equal(status.moves?.installed, 0);
  t.equal(status.moves?.failed, moved.size, 'every shipment counted as failed');
  const onA = new Set(await p.a.service.memberIds());
  t.ok(
    [...moved.keys()].every((id) => !onA.has(id)),
    'a holds none of them (exported before the failure)',
  );
  for (const [memberId, licenseId] of moved) {
    t.same(
      (await p.b.service.activeLicenses(memberId)).map((l) => l.licenseId),
      [licenseId],
      `${memberId}: loaded from the store`,
    );
    licenseIdOf(await p.b.service.execute(memberId, acquire('t2')));
  }
  t.equal(p.b.service.stats().loads, moved.size, 'b loaded each (once the announced wait was over)');
  t.equal(p.b.service.stats().installs, 0);
  for (const memberId of moved.keys()) t.same(await acquiredTitles(memberId), ['t1', 't2']);
});

t.test('a refused announcement, and live migration off, hand off through the store (evict, warm)', async (t) => {
  for (const [name, liveMigration, refuse] of [
    ['announcement refused', true, true],
    ['liveMigration false', false, false],
  ] as const) {
    const p = await pair(liveMigration);
    if (refuse) p.peers.refuse.add('/v1/internal/cluster/incoming');
    const { moved, status } = await moveHalf(p, 16);
    t.ok(moved.size > 0, `${name}: ${moved.size} members moved to b`);
    t.equal(status.moves?.warmed, moved.size, `${name}: b warmed every one`);
    t.equal(status.moves?.installed, 0, `${name}: none shipped`);
    t.equal(p.b.service.stats().loads, moved.size, `${name}: each loaded from the store once`);
    for (const [memberId, licenseId] of moved) {
      t.same(
        (await p.b.service.activeLicenses(memberId)).map((l) => l.licenseId),
        [licenseId],
      );
    }
    t.equal(p.b.service.stats().loads, moved.size, `${name}: served from memory after the warm-up`);
    await p.close();
  }
});

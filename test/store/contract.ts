/**
 * The event store contract: every EventStore implementation runs this same suite
 * (SQLite in sqlite.test.ts, Cassandra in cassandra.test.ts).
 */
import type { Test } from 'tap';
import { randomUUID } from 'node:crypto';
import { EMPTY_HEAD, type EventRecord, type EventStore, type NewEventRecord, type StreamHead } from '../../src/store/event-store.ts';

export interface StoreHarness {
  /** A store; `reopen` closes it and opens the same data again (restart), when the backend can. */
  open(): Promise<EventStore>;
  reopen?(store: EventStore): Promise<EventStore>;
}

let counter = 0;
function event(aggregateName: string, aggregateId: string, at: number, overrides: Partial<NewEventRecord> = {}): NewEventRecord {
  counter += 1;
  return {
    aggregateName,
    aggregateId,
    at,
    type: 'TestEvent',
    schemaVersion: 1,
    serializer: 'json',
    payload: JSON.stringify({ n: counter }),
    rulesVersion: 'contract-1',
    requestId: null,
    correlationId: null,
    ...overrides,
  };
}

async function collect(iterable: AsyncIterable<EventRecord>): Promise<EventRecord[]> {
  const rows: EventRecord[] = [];
  for await (const row of iterable) rows.push(row);
  return rows;
}

function member(): string {
  return `contract-${randomUUID()}`;
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

export function eventStoreContract(t: Test, harness: StoreHarness): void {
  let store: EventStore;
  t.before(async () => {
    store = await harness.open();
  });
  t.teardown(async () => {
    await store.close();
  });

  t.test('a member never written has an empty head, no snapshot and no events', async (t) => {
    const id = member();
    t.same(await store.readHead(id), EMPTY_HEAD);
    t.equal(await store.readLatestSnapshot(id), null);
    t.same(await collect(store.readGeneration(id, 0)), []);
  });

  t.test('append gives consecutive member-wide positions and returns the new head', async (t) => {
    const id = member();
    const head1 = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000), event('downloaded', 'T1', 1000)]);
    t.same(head1, { generation: 0, position: 2 });
    const head2 = await store.append(id, head1, [event('license', 'L1', 2000)]);
    t.same(head2, { generation: 0, position: 3 });
    t.same(await store.readHead(id), head2);
    const rows = await collect(store.readGeneration(id, 0));
    t.same(rows.map((r) => r.position).sort(), [1, 2, 3]);
    t.ok(rows.every((r) => r.memberId === id && r.generation === 0));
  });

  t.test('every field of a row survives the round trip', async (t) => {
    const id = member();
    const written = event('device', 'phone:1', 1_767_225_600_123, {
      type: 'DeviceRegistered',
      schemaVersion: 3,
      serializer: 'json',
      payload: '{"deviceId":"phone:1","note":"ünïcødé ✓"}',
      rulesVersion: 'rules-2026.1',
      requestId: 'req-42',
      correlationId: 'edge-7f3a',
    });
    await store.append(id, EMPTY_HEAD, [written]);
    const [row] = await collect(store.readGeneration(id, 0));
    t.same(row, { ...written, memberId: id, generation: 0, position: 1 });
  });

  t.test('an append that expects a stale head is refused with STORE_CONFLICT and writes nothing', async (t) => {
    const id = member();
    const head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)]);
    await t.rejects(store.append(id, EMPTY_HEAD, [event('license', 'L2', 1000)]), { code: 'STORE_CONFLICT' });
    await t.rejects(store.append(id, { generation: 0, position: 5 }, [event('license', 'L2', 1000)]), { code: 'STORE_CONFLICT' });
    t.same(await store.readHead(id), head);
    t.equal((await collect(store.readGeneration(id, 0))).length, 1);
  });

  t.test('of concurrent appends at the same head exactly one wins', async (t) => {
    const id = member();
    const attempts = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.append(id, EMPTY_HEAD, [event('license', `L${i}`, 1000), event('device', 'D', 1000)])));
    const won = attempts.filter((a) => a.status === 'fulfilled');
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    t.equal(won.length, 1);
    t.ok(
      lost.every((a) => errorCode(a.reason) === 'STORE_CONFLICT'),
      'the losers get the conflict error',
    );
    t.same(await store.readHead(id), { generation: 0, position: 2 });
    t.equal((await collect(store.readGeneration(id, 0))).length, 2, 'only the winner’s events are stored');
  });

  t.test('a generation reads in position order (the order of the appends), whatever the aggregates and times', async (t) => {
    const id = member();
    let head: StreamHead = EMPTY_HEAD;
    head = await store.append(id, head, [event('license', 'L2', 5000), event('downloaded', 'T1', 5000)]);
    head = await store.append(id, head, [event('license', 'L1', 7000)]);
    // Two events of one aggregate in the same millisecond: the position breaks the tie.
    await store.append(id, head, [event('license', 'L1', 6000), event('license', 'L1', 6000)]);
    const rows = await collect(store.readGeneration(id, 0));
    t.same(
      rows.map((r) => [r.aggregateName, r.aggregateId, r.at, r.position]),
      [
        ['license', 'L2', 5000, 1],
        ['downloaded', 'T1', 5000, 2],
        ['license', 'L1', 7000, 3],
        ['license', 'L1', 6000, 4],
        ['license', 'L1', 6000, 5],
      ],
    );
    t.same(
      (await collect(store.readGeneration(id, 0, { pageSize: 2 }))).map((r) => r.position),
      [1, 2, 3, 4, 5],
      'page by page too',
    );
  });

  t.test('long histories are read page by page without losing or repeating a row', async (t) => {
    const id = member();
    let head: StreamHead = EMPTY_HEAD;
    for (let i = 0; i < 25; i++) head = await store.append(id, head, [event('license', `L${i % 4}`, 1000 + (i % 3))]);
    const paged = await collect(store.readGeneration(id, 0, { pageSize: 4 }));
    const whole = await collect(store.readGeneration(id, 0, { pageSize: 1000 }));
    t.equal(paged.length, 25);
    t.same(paged, whole);
    t.same(new Set(paged.map((r) => r.position)).size, 25);
  });

  t.test('a snapshot opens the next generation and fences writers of the old one', async (t) => {
    const id = member();
    const head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000), event('license', 'L1', 2000)]);
    const next = await store.writeSnapshot(id, head, { takenAt: 2000, schemaVersion: 1, payload: '{"state":1}' });
    t.same(next, { generation: 1, position: 2 });
    t.same(await store.readHead(id), next);
    t.same(await store.readLatestSnapshot(id), { memberId: id, generation: 1, position: 2, takenAt: 2000, schemaVersion: 1, payload: '{"state":1}' });
    // A writer that still believes in generation 0 is refused.
    await t.rejects(store.append(id, head, [event('license', 'L1', 3000)]), { code: 'STORE_CONFLICT' });
    const after = await store.append(id, next, [event('license', 'L1', 3000)]);
    t.same(after, { generation: 1, position: 3 });
    t.same(
      (await collect(store.readGeneration(id, 1))).map((r) => r.position),
      [3],
    );
    t.equal((await collect(store.readGeneration(id, 0))).length, 2, 'older generations stay for audit and replay');
    const newer = await store.writeSnapshot(id, after, { takenAt: 3000, schemaVersion: 1, payload: '{"state":2}' });
    t.same(newer, { generation: 2, position: 3 });
    t.equal((await store.readLatestSnapshot(id))?.payload, '{"state":2}', 'the newest snapshot comes first');
  });

  t.test('a snapshot of a stale head is refused', async (t) => {
    const id = member();
    const head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)]);
    await store.append(id, head, [event('license', 'L1', 2000)]);
    await t.rejects(store.writeSnapshot(id, head, { takenAt: 1000, schemaVersion: 1, payload: '{}' }), { code: 'STORE_CONFLICT' });
    t.equal(await store.readLatestSnapshot(id), null);
  });

  t.test('members are isolated from each other', async (t) => {
    const a = member();
    const b = member();
    await store.append(a, EMPTY_HEAD, [event('license', 'L1', 1000)]);
    t.same(await store.readHead(b), EMPTY_HEAD);
    t.same(await store.append(b, EMPTY_HEAD, [event('license', 'L1', 1000)]), { generation: 0, position: 1 });
    t.equal((await collect(store.readGeneration(a, 0))).length, 1);
  });

  t.test('rules versions: saved once, first write wins, read back whole', async (t) => {
    const version = `rules-${randomUUID()}`;
    t.equal(await store.readRulesVersion(version), null, 'a version never saved reads as null');
    const rulesJson = JSON.stringify({ version, defaults: { plan: 'standard' }, note: 'ünïcødé ✓' });
    await store.saveRulesVersion(version, rulesJson, 1_767_225_600_123);
    t.same(await store.readRulesVersion(version), { version, rulesJson, firstSeenAt: 1_767_225_600_123 });
    // Idempotent: saving again (a restart, another service) changes nothing.
    await store.saveRulesVersion(version, JSON.stringify({ version, other: true }), 1_767_225_900_000);
    t.same(await store.readRulesVersion(version), { version, rulesJson, firstSeenAt: 1_767_225_600_123 }, 'the first write wins');
    // Concurrent first saves: exactly one of them is kept, whole.
    const raced = `rules-${randomUUID()}`;
    await Promise.all([1, 2, 3, 4].map((n) => store.saveRulesVersion(raced, JSON.stringify({ n }), n)));
    const kept = await store.readRulesVersion(raced);
    t.ok(kept !== null && (JSON.parse(kept.rulesJson) as { n: number }).n === kept.firstSeenAt, 'one writer’s record, not a mix');
  });

  t.test('listMembers lists every written member exactly once, across generations', async (t) => {
    const a = member();
    const b = member();
    const never = member();
    let head = await store.append(a, EMPTY_HEAD, [event('license', 'L1', 1000)]);
    head = await store.writeSnapshot(a, head, { takenAt: 1000, schemaVersion: 1, payload: '{}' });
    head = await store.append(a, head, [event('license', 'L1', 2000)]);
    await store.writeSnapshot(a, head, { takenAt: 2000, schemaVersion: 1, payload: '{}' });
    await store.append(b, EMPTY_HEAD, [event('device', 'D1', 1000)]);
    const seen: string[] = [];
    for await (const id of store.listMembers()) seen.push(id);
    t.equal(seen.filter((id) => id === a).length, 1, 'a member with three generations once');
    t.equal(seen.filter((id) => id === b).length, 1);
    t.notOk(seen.includes(never), 'a member never written is not listed');
    t.equal(new Set(seen).size, seen.length, 'no member twice');
  });

  t.test('ownership fencing: a claim by a newer epoch refuses every write of the old owner', async (t) => {
    const id = member();
    const oldOwner = { epoch: 3, node: 'node-a' };
    const newOwner = { epoch: 4, node: 'node-b' };
    await store.claim(id, oldOwner);
    await store.claim(id, oldOwner); // idempotent for the same fence
    let head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)], oldOwner);
    t.same(head, { generation: 0, position: 1 });
    // A writer with no claim at all (or a made-up fence) is refused once the member is claimed.
    await t.rejects(store.append(id, head, [event('license', 'L1', 1500)], { epoch: 3, node: 'node-x' }), { code: 'OWNERSHIP_MOVED' });
    // The new owner claims; the old one wakes up with a head that is still current, and is refused.
    await store.claim(id, newOwner);
    await t.rejects(store.append(id, head, [event('license', 'L1', 2000)], oldOwner), { code: 'OWNERSHIP_MOVED' });
    await t.rejects(store.writeSnapshot(id, head, { takenAt: 2000, schemaVersion: 1, payload: '{}' }, oldOwner), { code: 'OWNERSHIP_MOVED' });
    t.equal(await store.readLatestSnapshot(id), null, 'the refused snapshot left nothing');
    // Claims never go back in time, and two nodes cannot share an epoch.
    await t.rejects(store.claim(id, oldOwner), { code: 'OWNERSHIP_MOVED' });
    await t.rejects(store.claim(id, { epoch: 4, node: 'node-c' }), { code: 'OWNERSHIP_MOVED' });
    head = await store.append(id, head, [event('license', 'L1', 3000)], newOwner);
    t.same(head, { generation: 0, position: 2 });
    t.same(
      (await collect(store.readGeneration(id, 0))).map((r) => r.at),
      [1000, 3000],
      'only the owners’ events are stored',
    );
  });

  t.test('ownership fencing survives snapshots: the fence carries into the next generation', async (t) => {
    const id = member();
    const a = { epoch: 7, node: 'node-a' };
    const b = { epoch: 8, node: 'node-b' };
    await store.claim(id, a);
    let head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)], a);
    head = await store.writeSnapshot(id, head, { takenAt: 1000, schemaVersion: 1, payload: '{"s":1}' }, a);
    t.same(head, { generation: 1, position: 1 });
    head = await store.append(id, head, [event('license', 'L1', 2000)], a);
    await store.claim(id, b);
    await t.rejects(store.append(id, head, [event('license', 'L1', 2500)], a), { code: 'OWNERSHIP_MOVED' });
    await t.rejects(store.writeSnapshot(id, head, { takenAt: 2500, schemaVersion: 1, payload: '{}' }, a), { code: 'OWNERSHIP_MOVED' });
    head = await store.writeSnapshot(id, head, { takenAt: 2000, schemaVersion: 1, payload: '{"s":2}' }, b);
    t.same(head, { generation: 2, position: 2 });
    await t.rejects(store.append(id, head, [event('license', 'L1', 3000)], a), { code: 'OWNERSHIP_MOVED' });
    t.same(await store.append(id, head, [event('license', 'L1', 3000)], b), { generation: 2, position: 3 });
    t.equal((await store.readLatestSnapshot(id))?.payload, '{"s":2}');
  });

  t.test('ownership fencing: of two nodes claiming the same member at once, the newer epoch ends up owner', async (t) => {
    const id = member();
    const claims = [5, 6, 4].map((epoch) =>
      store.claim(id, { epoch, node: `node-${epoch}` }).then(
        () => epoch,
        () => null,
      ),
    );
    await Promise.all(claims);
    // Whatever the interleaving, only epoch 6 may write now.
    await t.rejects(store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)], { epoch: 5, node: 'node-5' }), { code: 'OWNERSHIP_MOVED' });
    t.same(await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)], { epoch: 6, node: 'node-6' }), { generation: 0, position: 1 });
  });

  t.test('a take-over claims the member with its first write: one conditional write, no claim before', async (t) => {
    const id = member();
    const a = { epoch: 3, node: 'node-a' };
    const b = { epoch: 4, node: 'node-b' };
    t.same(await store.readHeadAndOwner(id), { head: EMPTY_HEAD, owner: null }, 'a member never written has no owner');
    // A new member: the first write takes it over from nobody.
    let head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)], { ...a, takeOverFrom: null });
    t.same(await store.readHeadAndOwner(id), { head, owner: a }, 'the write made its fence the owner');
    t.same(await store.append(id, head, [event('license', 'L1', 1500)], a), { generation: 0, position: 2 }, 'the owner writes on');
    // Node b loads with plain reads and takes the member over with its first write.
    const read = await store.readHeadAndOwner(id);
    t.same(read.owner, a);
    head = await store.append(id, read.head, [event('license', 'L1', 2000)], { ...b, takeOverFrom: read.owner });
    t.same(await store.readHeadAndOwner(id), { head, owner: b });
    await t.rejects(store.append(id, head, [event('license', 'L1', 2500)], a), { code: 'OWNERSHIP_MOVED' }, 'the old owner is fenced out');
    // Epochs never go back: taking over from a newer owner is refused, whatever its head.
    await t.rejects(store.append(id, head, [event('license', 'L1', 2600)], { ...a, takeOverFrom: b }), { code: 'OWNERSHIP_MOVED' });
    await t.rejects(store.append(id, head, [event('license', 'L1', 2700)], { epoch: 4, node: 'node-c', takeOverFrom: b }), { code: 'OWNERSHIP_MOVED' });
    // And the same through a snapshot: a take-over may be a snapshot.
    const c = { epoch: 5, node: 'node-c' };
    head = await store.writeSnapshot(id, head, { takenAt: 2000, schemaVersion: 1, payload: '{"s":1}' }, { ...c, takeOverFrom: b });
    t.same(await store.readHeadAndOwner(id), { head, owner: c }, 'the snapshot carried the claim into the next generation');
    await t.rejects(store.append(id, head, [event('license', 'L1', 3000)], b), { code: 'OWNERSHIP_MOVED' });
    t.same(
      [...(await collect(store.readGeneration(id, 0)))].map((r) => r.at),
      [1000, 1500, 2000],
      'only the owners’ events are stored',
    );
  });

  t.test('a moved member’s first write meets a stale owner’s write at the same head: exactly one wins', async (t) => {
    for (let round = 0; round < 6; round++) {
      const id = member();
      const old = { epoch: 3, node: 'node-a' };
      const moved = { epoch: 4, node: 'node-b' };
      const head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000)], { ...old, takeOverFrom: null });
      const read = await store.readHeadAndOwner(id);
      const writes = [
        store.append(id, head, [event('license', 'stale', 2000)], old),
        store.append(id, read.head, [event('license', 'moved', 2000)], { ...moved, takeOverFrom: read.owner }),
      ];
      // Started in both orders across rounds; whichever the store takes first, the other is refused.
      const outcomes = await Promise.allSettled(round % 2 === 0 ? writes : [...writes].reverse());
      t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, `round ${round}: one write won`);
      const refused = outcomes.find((o) => o.status === 'rejected');
      t.ok(refused && ['STORE_CONFLICT', 'OWNERSHIP_MOVED'].includes((refused.reason as { code?: string }).code ?? ''), 'the other was refused, retryable');
      const rows = await collect(store.readGeneration(id, 0));
      t.same(
        rows.map((r) => r.position),
        [1, 2],
        'one event after the first, no gap, no duplicate position',
      );
      const after = await store.readHeadAndOwner(id);
      const winner = rows[1]?.aggregateId;
      t.same(after.owner, winner === 'moved' ? moved : old, 'the owner is the winner’s fence');
      if (winner === 'stale') {
        // The new owner reloads and takes over on its retry: the stale owner is then fenced out.
        const retry = await store.append(id, after.head, [event('license', 'moved', 3000)], { ...moved, takeOverFrom: after.owner });
        t.same(retry, { generation: 0, position: 3 });
        await t.rejects(store.append(id, retry, [event('license', 'stale', 3500)], old), { code: 'OWNERSHIP_MOVED' });
      }
    }
  });

  if (harness.reopen) {
    const reopen = harness.reopen.bind(harness);
    t.test('a restart loses nothing that was acknowledged', async (t) => {
      const id = member();
      let head = await store.append(id, EMPTY_HEAD, [event('license', 'L1', 1000), event('device', 'D1', 1000)]);
      head = await store.writeSnapshot(id, head, { takenAt: 1000, schemaVersion: 1, payload: '{"s":1}' });
      head = await store.append(id, head, [event('license', 'L1', 2000)]);
      const before = [...(await collect(store.readGeneration(id, 0))), ...(await collect(store.readGeneration(id, 1)))];
      store = await reopen(store);
      t.same(await store.readHead(id), head);
      t.equal((await store.readLatestSnapshot(id))?.payload, '{"s":1}');
      const after = [...(await collect(store.readGeneration(id, 0))), ...(await collect(store.readGeneration(id, 1)))];
      t.same(after, before);
      t.same(await store.append(id, head, [event('license', 'L1', 3000)]), { generation: 1, position: 4 });
    });
  }
}

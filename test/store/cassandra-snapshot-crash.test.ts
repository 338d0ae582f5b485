/**
 * Cassandra's snapshot protocol seals a generation before it writes the snapshot row. A crash
 * between the two leaves a sealed generation without its row: nothing is lost, readers go on
 * from the sealed position, and the next append opens the next generation there.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import cassandra from 'cassandra-driver';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import type { EventRecord, NewEventRecord } from '../../src/store/event-store.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';

const settings = cassandraTestSettings();
let store: CassandraEventStore;
let raw: InstanceType<typeof cassandra.Client>;
t.before(async () => {
  store = await CassandraEventStore.connect(settings);
  raw = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter, keyspace: settings.keyspace });
  await raw.connect();
});
t.teardown(async () => {
  await store.close();
  await raw.shutdown();
});

const event = (at: number): NewEventRecord => ({
  aggregateName: 'license',
  aggregateId: 'L1',
  at,
  type: 'TestEvent',
  schemaVersion: 1,
  serializer: 'json',
  payload: JSON.stringify({ at }),
  rulesVersion: 'crash-1',
  requestId: null,
  correlationId: null,
});

async function everyRow(memberId: string, lastGeneration: number): Promise<EventRecord[]> {
  const rows: EventRecord[] = [];
  for (let generation = 0; generation <= lastGeneration; generation++) for await (const row of store.readGeneration(memberId, generation)) rows.push(row);
  return rows.sort((a, b) => a.position - b.position);
}

for (const fence of [null, { epoch: 3, node: 'node-a' }]) {
  t.test(`a crash between the seal and the snapshot row (${fence ? 'fenced' : 'single node'})`, async (t) => {
    const memberId = `crash-${randomUUID()}`;
    if (fence) await store.claim(memberId, fence);
    let head = await store.append(memberId, { generation: 0, position: 0 }, [event(1000), event(2000)], fence);
    head = await store.writeSnapshot(memberId, head, { takenAt: 2000, schemaVersion: 1, payload: '{"s":1}' }, fence);
    head = await store.append(memberId, head, [event(3000)], fence);
    t.same(head, { generation: 1, position: 3 });
    const stale = head;
    head = await store.writeSnapshot(memberId, head, { takenAt: 3000, schemaVersion: 1, payload: '{"s":2}' }, fence);
    t.same(head, { generation: 2, position: 3 });
    // The crash: the second snapshot's row and its opened generation never made it.
    await raw.execute('DELETE FROM snapshots_v2 WHERE member_id = ? AND generation = ?', [memberId, 2], { prepare: true });
    await raw.execute('DELETE FROM events_v2 WHERE member_id = ? AND generation = ?', [memberId, 2], { prepare: true });

    t.same(await store.readHead(memberId), { generation: 2, position: 3 }, 'the head goes on from the sealed position');
    t.equal((await store.readLatestSnapshot(memberId))?.payload, '{"s":1}', 'readers start from the snapshot before');
    await t.rejects(store.append(memberId, stale, [event(3500)], fence), { code: 'STORE_CONFLICT' }, 'the sealed generation takes no more events');
    t.same(await store.append(memberId, head, [event(4000)], fence), { generation: 2, position: 4 }, 'the next append opens the next generation');
    t.same(
      (await everyRow(memberId, 2)).map((row) => [row.generation, row.position]),
      [
        [0, 1],
        [0, 2],
        [1, 3],
        [2, 4],
      ],
      'every event is there once, in order',
    );
    // And snapshots go on from there.
    t.same(await store.writeSnapshot(memberId, { generation: 2, position: 4 }, { takenAt: 4000, schemaVersion: 1, payload: '{"s":3}' }, fence), { generation: 3, position: 4 });
    t.equal((await store.readLatestSnapshot(memberId))?.payload, '{"s":3}');
  });
}

t.test('a stale writer never touches the snapshot row of the writer that sealed', async (t) => {
  const memberId = `crash-${randomUUID()}`;
  const head = await store.append(memberId, { generation: 0, position: 0 }, [event(1000)]);
  const after = await store.append(memberId, head, [event(2000)]);
  await store.writeSnapshot(memberId, after, { takenAt: 2000, schemaVersion: 1, payload: '{"winner":true}' });
  // A writer that still holds the older head tries to snapshot: refused at the seal, before any row.
  await t.rejects(store.writeSnapshot(memberId, head, { takenAt: 1000, schemaVersion: 1, payload: '{"loser":true}' }), { code: 'STORE_CONFLICT' });
  t.equal((await store.readLatestSnapshot(memberId))?.payload, '{"winner":true}', 'the sealing writer’s snapshot stands');
});

// The owner dies between its seal and the next generation's open (a node killed mid-snapshot):
// the node that takes the member over must be able to write, and the dead owner must not.
for (const crash of ['row written', 'row missing'] as const) {
  t.test(`a new owner takes over a member whose owner crashed mid-snapshot (${crash})`, async (t) => {
    const memberId = `crash-${randomUUID()}`;
    const dead = { epoch: 3, node: 'node-a' };
    const next = { epoch: 4, node: 'node-b' };
    await store.claim(memberId, dead);
    let head = await store.append(memberId, { generation: 0, position: 0 }, [event(1000), event(2000)], dead);
    head = await store.writeSnapshot(memberId, head, { takenAt: 2000, schemaVersion: 1, payload: '{"s":1}' }, dead);
    t.same(head, { generation: 1, position: 2 });
    await raw.execute('DELETE FROM events_v2 WHERE member_id = ? AND generation = ?', [memberId, 1], { prepare: true });
    if (crash === 'row missing') await raw.execute('DELETE FROM snapshots_v2 WHERE member_id = ? AND generation = ?', [memberId, 1], { prepare: true });

    await t.rejects(store.claim(memberId, { epoch: 2, node: 'node-c' }), { code: 'OWNERSHIP_MOVED' }, 'an owner older than the one that sealed may not claim');
    await store.claim(memberId, next);
    const taken = await store.readHead(memberId);
    t.same(taken, { generation: 1, position: 2 }, 'the new owner goes on from the sealed position');
    t.same(await store.append(memberId, taken, [event(3000)], next), { generation: 1, position: 3 }, 'the new owner opens the generation');
    await t.rejects(store.append(memberId, { generation: 1, position: 3 }, [event(3500)], dead), { code: 'OWNERSHIP_MOVED' }, 'the dead owner may not write');
    t.same(
      (await everyRow(memberId, 1)).map((row) => [row.generation, row.position]),
      [
        [0, 1],
        [0, 2],
        [1, 3],
      ],
      'every event is there once, in order',
    );
  });

  t.test(`a new owner snapshots a member whose owner crashed mid-snapshot (${crash})`, async (t) => {
    const memberId = `crash-${randomUUID()}`;
    const dead = { epoch: 3, node: 'node-a' };
    const next = { epoch: 4, node: 'node-b' };
    await store.claim(memberId, dead);
    const head = await store.append(memberId, { generation: 0, position: 0 }, [event(1000)], dead);
    await store.writeSnapshot(memberId, head, { takenAt: 1000, schemaVersion: 1, payload: '{"s":1}' }, dead);
    await raw.execute('DELETE FROM events_v2 WHERE member_id = ? AND generation = ?', [memberId, 1], { prepare: true });
    if (crash === 'row missing') await raw.execute('DELETE FROM snapshots_v2 WHERE member_id = ? AND generation = ?', [memberId, 1], { prepare: true });
    await store.claim(memberId, next);
    const taken = await store.readHead(memberId);
    t.same(await store.writeSnapshot(memberId, taken, { takenAt: 2000, schemaVersion: 1, payload: '{"s":2}' }, next), { generation: 2, position: 1 }, 'the new owner seals it');
    t.equal((await store.readLatestSnapshot(memberId))?.payload, '{"s":2}');
  });
}

// The same crash, and the new owner takes the member over the way the service does: plain reads,
// then its first write names the owner it read (the one that sealed) and claims the member.
for (const crash of ['row written', 'row missing'] as const) {
  t.test(`a new owner takes over with its first write a member whose owner crashed mid-snapshot (${crash})`, async (t) => {
    const memberId = `crash-${randomUUID()}`;
    const dead = { epoch: 3, node: 'node-a' };
    const next = { epoch: 4, node: 'node-b' };
    const head = await store.append(memberId, { generation: 0, position: 0 }, [event(1000), event(2000)], { ...dead, takeOverFrom: null });
    await store.writeSnapshot(memberId, head, { takenAt: 2000, schemaVersion: 1, payload: '{"s":1}' }, dead);
    await raw.execute('DELETE FROM events_v2 WHERE member_id = ? AND generation = ?', [memberId, 1], { prepare: true });
    if (crash === 'row missing') await raw.execute('DELETE FROM snapshots_v2 WHERE member_id = ? AND generation = ?', [memberId, 1], { prepare: true });

    const read = await store.readHeadAndOwner(memberId);
    t.same(read, { head: { generation: 1, position: 2 }, owner: dead }, 'the unopened generation is held by the owner that sealed');
    await t.rejects(
      store.append(memberId, read.head, [event(2500)], { epoch: 2, node: 'node-c', takeOverFrom: read.owner }),
      { code: 'OWNERSHIP_MOVED' },
      'an older owner may not take over',
    );
    t.same(await store.append(memberId, read.head, [event(3000)], { ...next, takeOverFrom: read.owner }), { generation: 1, position: 3 }, 'the new owner opens it');
    await t.rejects(store.append(memberId, { generation: 1, position: 3 }, [event(3500)], dead), { code: 'OWNERSHIP_MOVED' }, 'the dead owner may not write');
    t.same((await store.readHeadAndOwner(memberId)).owner, next);
  });
}

/**
 * Event versioning: upcasting old rows, and refusing rows this code cannot read with an error
 * that names the row. Rows are written as literal bytes (what an older or newer writer put in
 * the store) through store.append, then read back through the repository.
 */
import t from 'tap';
import { decide } from '../../src/domain/member/decide.ts';
import { isRefusal } from '../../src/domain/refusal.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import { currentSchemaVersion, decodeEvent, encodeEvent, EventDecodeError } from '../../src/store/codec/event-codec.ts';
import { EMPTY_HEAD, type EventRecord, type NewEventRecord } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { DAY, T0, testRules } from '../support/fixtures.ts';

const NO_SNAPSHOTS = { eventCount: Number.MAX_SAFE_INTEGER, replayMs: Number.POSITIVE_INFINITY };

function row(o: Partial<NewEventRecord> & Pick<NewEventRecord, 'aggregateName' | 'aggregateId' | 'at' | 'type' | 'payload'>): NewEventRecord {
  return { schemaVersion: 1, serializer: 'json', rulesVersion: 'test-0', requestId: null, ...o };
}

/** An acquisition of L1 on d1 at T0, as version-1 rows (the current version of these three types). */
const acquisitionRows: NewEventRecord[] = [
  row({
    aggregateName: 'license',
    aggregateId: 'L1',
    at: T0,
    type: 'LicenseAcquired',
    payload: `{"licenseId":"L1","deviceId":"d1","titleId":"plain","studioId":null,"expiresAt":${T0 + 30 * DAY}}`,
  }),
  row({ aggregateName: 'downloaded', aggregateId: 'plain', at: T0, type: 'TitleDownloaded', payload: '{"titleId":"plain","licenseId":"L1","deviceId":"d1","via":"acquire"}' }),
  row({ aggregateName: 'device', aggregateId: 'd1', at: T0, type: 'DeviceRegistered', payload: '{"deviceId":"d1"}' }),
];

/** What version 1 of LicenseReleased wrote: no `cause`. */
const releasedV1 = row({ aggregateName: 'license', aggregateId: 'L1', at: T0 + DAY, type: 'LicenseReleased', schemaVersion: 1, payload: '{"licenseId":"L1"}' });

function stored(o: Partial<EventRecord> & NewEventRecord): EventRecord {
  return { memberId: 'm1', generation: 0, position: 1, ...o };
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

t.test('upcasting LicenseReleased v1 -> v2', async (t) => {
  t.test('the codec writes version 2 with a cause', async (t) => {
    t.equal(currentSchemaVersion('LicenseReleased'), 2);
    const encoded = encodeEvent({ type: 'LicenseReleased', at: T0, licenseId: 'L1', cause: 'device-deactivated' }, { rulesVersion: 'test-1' });
    t.same(encoded, {
      aggregateName: 'license',
      aggregateId: 'L1',
      at: T0,
      type: 'LicenseReleased',
      schemaVersion: 2,
      serializer: 'json',
      payload: '{"licenseId":"L1","cause":"device-deactivated"}',
      rulesVersion: 'test-1',
      requestId: null,
      correlationId: null,
    });
  });

  t.test('a version-1 row decodes with cause "member"', async (t) => {
    t.same(decodeEvent(stored({ ...releasedV1, position: 4 })), { type: 'LicenseReleased', at: T0 + DAY, licenseId: 'L1', cause: 'member' });
  });

  t.test('a version-2 row keeps its cause', async (t) => {
    const v2 = row({ aggregateName: 'license', aggregateId: 'L1', at: T0, type: 'LicenseReleased', schemaVersion: 2, payload: '{"licenseId":"L1","cause":"device-deactivated"}' });
    t.same(decodeEvent(stored(v2)), { type: 'LicenseReleased', at: T0, licenseId: 'L1', cause: 'device-deactivated' });
  });

  t.test('a version-1 row in the store loads as a license released by the member', async (t) => {
    const store = new SqliteEventStore(':memory:');
    t.teardown(() => store.close());
    let head = await store.append('m1', EMPTY_HEAD, acquisitionRows);
    head = await store.append('m1', head, [releasedV1]);
    t.same(head, { generation: 0, position: 4 });

    const member = await new MemberRepository(store, NO_SNAPSHOTS).load('m1');
    const license = member.state.licenses.get('L1');
    t.match(license, { licenseId: 'L1', releasedAt: T0 + DAY, releaseCause: 'member' });
    t.same(member.head, head);

    // And the decider sees it that way: renewing is refused naming the cause, releasing again is a no-op.
    const rules = testRules();
    const renewal = decide({ type: 'RenewLicense', now: T0 + 2 * DAY, licenseId: 'L1' }, member.state, rules);
    t.ok(isRefusal(renewal));
    if (isRefusal(renewal)) t.same(renewal.details, { licenseId: 'L1', releasedAt: new Date(T0 + DAY).toISOString(), cause: 'member' });
    const again = decide({ type: 'ReleaseLicense', now: T0 + 2 * DAY, licenseId: 'L1' }, member.state, rules);
    t.ok(!isRefusal(again) && !('requestIdReused' in again) && !('unknownPlan' in again) && again.events.length === 0, 'releasing again writes nothing');
  });

  t.test('a snapshot taken over an upcast row keeps the upcast value', async (t) => {
    const store = new SqliteEventStore(':memory:');
    t.teardown(() => store.close());
    const head = await store.append('m1', EMPTY_HEAD, [...acquisitionRows, releasedV1]);
    // A repository that snapshots on load (4 events >= 2), then a plain load reads the snapshot.
    const first = await new MemberRepository(store, { eventCount: 2, replayMs: 1_000_000 }).load('m1');
    t.same(first.head, { generation: 1, position: head.position }, 'the load took a snapshot');
    const second = await new MemberRepository(store, NO_SNAPSHOTS).load('m1');
    t.equal(second.eventsSinceSnapshot, 0, 'loaded from the snapshot');
    t.match(second.state.licenses.get('L1'), { releasedAt: T0 + DAY, releaseCause: 'member' });
  });
});

t.test('rows this code cannot read are an EventDecodeError naming the row', async (t) => {
  const cases: { label: string; record: NewEventRecord; reason: RegExp }[] = [
    {
      label: 'an unknown event type',
      record: row({ aggregateName: 'license', aggregateId: 'L1', at: T0 + DAY, type: 'LicenseTransferred', payload: '{"licenseId":"L1","to":"m2"}' }),
      reason: /unknown event type "LicenseTransferred"/,
    },
    {
      label: 'a schema version newer than the code knows (LicenseReleased v3)',
      record: row({
        aggregateName: 'license',
        aggregateId: 'L1',
        at: T0 + DAY,
        type: 'LicenseReleased',
        schemaVersion: 3,
        payload: '{"licenseId":"L1","cause":"member","by":"x"}',
      }),
      reason: /newer schema \(this code knows up to version 2\)/,
    },
    {
      label: 'a schema version newer than the code knows (DeviceRegistered v2)',
      record: row({ aggregateName: 'device', aggregateId: 'd1', at: T0 + DAY, type: 'DeviceRegistered', schemaVersion: 2, payload: '{"deviceId":"d1"}' }),
      reason: /newer schema \(this code knows up to version 1\)/,
    },
    {
      label: 'an unknown serializer',
      record: row({ aggregateName: 'license', aggregateId: 'L1', at: T0 + DAY, type: 'LicenseReleased', serializer: 'avro', payload: 'AAEC' }),
      reason: /unknown serializer "avro"/,
    },
    {
      label: 'a payload that is not JSON',
      record: row({ aggregateName: 'license', aggregateId: 'L1', at: T0 + DAY, type: 'LicenseReleased', schemaVersion: 2, payload: '{"licenseId":' }),
      reason: /payload is not JSON/,
    },
    {
      label: 'a schema version 0',
      record: row({ aggregateName: 'license', aggregateId: 'L1', at: T0 + DAY, type: 'LicenseReleased', schemaVersion: 0, payload: '{"licenseId":"L1"}' }),
      reason: /schema version must be a positive integer/,
    },
  ];

  for (const c of cases) {
    t.test(c.label, async (t) => {
      const store = new SqliteEventStore(':memory:');
      t.teardown(() => store.close());
      const head = await store.append('m-bad', EMPTY_HEAD, acquisitionRows);
      await store.append('m-bad', head, [c.record]);
      await store.append('m-good', EMPTY_HEAD, acquisitionRows);

      // The codec, on the row as the store returns it.
      const rows: EventRecord[] = [];
      for await (const r of store.readGeneration('m-bad', 0)) rows.push(r);
      const bad = rows.find((r) => r.position === 4);
      t.ok(bad, 'the row is stored at position 4');
      if (!bad) return;
      const error = catchError(() => decodeEvent(bad));
      t.ok(error instanceof EventDecodeError, 'decodeEvent throws EventDecodeError');
      if (!(error instanceof EventDecodeError)) return;
      t.equal(error.name, 'EventDecodeError');
      t.equal(error.code, 'EVENT_DECODE_FAILED');
      t.match(error.message, /member=m-bad/);
      t.match(error.message, /generation=0/);
      t.match(error.message, new RegExp(`aggregate=${c.record.aggregateName}/${c.record.aggregateId}`));
      t.match(error.message, /position=4/);
      t.match(error.message, new RegExp(`type=${c.record.type}`));
      t.match(error.message, new RegExp(`version=${c.record.schemaVersion}`));
      t.match(error.message, c.reason);
      t.match(error.row, { memberId: 'm-bad', generation: 0, aggregateName: c.record.aggregateName, aggregateId: c.record.aggregateId, position: 4 });

      // The repository: the member with the bad row fails to load with that error...
      const repository = new MemberRepository(store, NO_SNAPSHOTS);
      const loadError = await repository.load('m-bad').then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(loadError instanceof EventDecodeError, 'load rejects with EventDecodeError');
      if (loadError instanceof EventDecodeError) {
        t.equal(loadError.message, error.message, 'the same message, naming the row');
      }
      // ...while other members in the same store still load.
      const good = await repository.load('m-good');
      t.match(good.state.licenses.get('L1'), { licenseId: 'L1', releasedAt: null });
      t.same(good.head, { generation: 0, position: 3 });
    });
  }

  t.test('a bad row after a snapshot names its generation', async (t) => {
    const store = new SqliteEventStore(':memory:');
    t.teardown(() => store.close());
    const snapshotting = new MemberRepository(store, { eventCount: 1, replayMs: 1_000_000 });
    await store.append('m1', EMPTY_HEAD, acquisitionRows);
    const member = await snapshotting.load('m1');
    t.same(member.head, { generation: 1, position: 3 }, 'snapshot taken, generation 1 open');
    await store.append('m1', member.head, [
      row({ aggregateName: 'license', aggregateId: 'L1', at: T0 + DAY, type: 'LicenseReleased', schemaVersion: 9, payload: '{"licenseId":"L1"}' }),
    ]);
    const loadError = await new MemberRepository(store, NO_SNAPSHOTS).load('m1').then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(loadError instanceof EventDecodeError);
    t.match((loadError as Error).message, /member=m1 generation=1 aggregate=license\/L1 position=4 type=LicenseReleased version=9/);
  });
});

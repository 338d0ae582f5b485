/**
 * The compact row codec without a database: every event the service writes becomes a small
 * binary row and comes back as exactly the record it was (every field, the payload's JSON text
 * byte for byte), and anything the binary form cannot hold falls back to the JSON text rather
 * than change a value. Rows go through the same column values the driver would bind and return.
 */
import t from 'tap';
import cassandra from 'cassandra-driver';
import type { DomainEvent } from '../../src/domain/events.ts';
import { decodeCompactPayload, encodeCompactPayload, kindCodeOf, kindsKnown } from '../../src/store/codec/compact-payload.ts';
import { currentSchemaVersion, decodeEvent, encodeEvent, knownEventTypes } from '../../src/store/codec/event-codec.ts';
import { encodeVoid } from '../../src/store/codec/void-codec.ts';
import { COMPACT_EVENT_COLUMNS, decodeCompactRow, encodeCompactRow, readCompactHeader, type CompactColumns, type CompactHeader } from '../../src/store/cassandra/compact-row.ts';
import type { EventRecord, NewEventRecord } from '../../src/store/event-store.ts';
import { ARCHIVE_TABLE_OPTIONS, compressionCql, compressionMatches, REALTIME_TABLE_OPTIONS } from '../../src/store/cassandra/table-options.ts';
import { parseConfig } from '../../src/config/load.ts';
import { compactLayout } from '../../src/store/cassandra/row-layout.ts';
import { testRules } from '../support/fixtures.ts';

const T = Date.UTC(2026, 2, 1, 12, 30, 15, 123);
const DAY = 86_400_000;
const LICENSE = '5f0c6a0e-3b1d-4c8e-9a57-0d2b8e1f4c3a';

/** What the driver would return for a row written with these columns (unset reads as null). */
function asRow(columns: CompactColumns, position: number): cassandra.types.Row {
  const row: Record<string, unknown> = { position };
  for (const column of COMPACT_EVENT_COLUMNS) row[column] = columns[column] ?? null;
  return row as unknown as cassandra.types.Row;
}

function roundTrip(event: NewEventRecord): { record: EventRecord; columns: CompactColumns; header: CompactHeader } {
  const columns = encodeCompactRow(event, 7);
  const header = readCompactHeader(columns.data as Buffer);
  const record = decodeCompactRow(asRow(columns, 12), header, { memberId: 'm', generation: 3, position: 12 }, event.rulesVersion);
  return { record, columns, header };
}

/** A row whose blob was written by hand (another version, or damage), read as the store reads it. */
function decodeRaw(data: Buffer, at = T): EventRecord {
  const row = asRow({ at: cassandra.types.Long.fromNumber(at), data }, 3);
  let header: CompactHeader;
  try {
    header = readCompactHeader(data);
  } catch {
    header = { kind: 0, json: true, rulesId: 0, requestId: null, correlationId: null, body: data };
  }
  return decodeCompactRow(row, header, { memberId: 'm', generation: 0, position: 3 }, 'r');
}

const EVENTS: DomainEvent[] = [
  { type: 'LicenseAcquired', at: T, licenseId: LICENSE, deviceId: 'phone-1', titleId: 'house-of-kites-s01e01', studioId: 'northwind-pictures', expiresAt: T + 30 * DAY },
  { type: 'LicenseAcquired', at: T, licenseId: 'L-not-a-uuid', deviceId: 'tablet', titleId: 'deep-currents', studioId: null, expiresAt: T + 7 * DAY },
  { type: 'TitleDownloaded', at: T, titleId: 'house-of-kites-s01e01', licenseId: LICENSE, deviceId: 'phone-1', via: 'acquire' },
  { type: 'DeviceRegistered', at: T, deviceId: 'phone-1' },
  { type: 'LicenseRenewed', at: T + DAY, licenseId: LICENSE, expiresAt: T + 60 * DAY, renewals: 2 },
  { type: 'LicenseReleased', at: T + 2 * DAY, licenseId: LICENSE, cause: 'device-deactivated' },
  {
    type: 'PlaybackRecorded',
    at: T + DAY,
    licenseId: LICENSE,
    sessions: [
      { sessionId: 's-1', startedAt: T - 3_600_000, durationMs: 1_200_000 },
      { sessionId: '0b6e7a51-9d0c-4a43-8d55-1b5d6f3e2a10', startedAt: T + 5, durationMs: 0 },
    ],
  },
  { type: 'DeviceDeactivated', at: T + 3 * DAY, deviceId: 'phone-1', releasedLicenseIds: [LICENSE, 'L-not-a-uuid'] },
  { type: 'DeviceDeactivated', at: T + 3 * DAY, deviceId: 'tablet', releasedLicenseIds: [] },
];

t.test('every (type, version) the codec reads has a kind with a binary form', async (t) => {
  for (const type of knownEventTypes()) {
    for (let version = 1; version <= currentSchemaVersion(type); version++) {
      const code = kindCodeOf(type, version);
      t.ok(code !== null && kindsKnown().some((k) => k.code === code && k.binary), `${type} v${version}`);
    }
  }
  t.equal(new Set(kindsKnown().map((k) => k.code)).size, kindsKnown().length, 'codes are unique');
});

t.test('every event the service writes round-trips through a compact row, in binary', async (t) => {
  for (const event of EVENTS) {
    const written = encodeEvent(event, { rulesVersion: 'default-1', requestId: 'req-1', correlationId: '9b2f4c1e-7a3d-4e5f-8c6b-2d1a0f9e8b7c' });
    const { record, columns, header } = roundTrip(written);
    t.same(record, { ...written, memberId: 'm', generation: 3, position: 12 }, `${event.type}: the record comes back whole`);
    t.ok(header.kind > 0 && !header.json, `${event.type}: binary body`);
    t.equal(header.rulesId, 7);
    t.ok(header.body.length < Buffer.byteLength(written.payload) / 2, `${event.type}: ${header.body.length} bytes for ${written.payload.length} of JSON`);
    t.same(Object.keys(columns).sort(), ['at', 'data'], `${event.type}: two cells; the aggregate is derived, not stored`);
    t.same(decodeEvent(record), event, `${event.type}: decodes to the same event`);
  }
});

t.test('absent values are left unset; UUIDs are 16 bytes, other ids text', async (t) => {
  const event = encodeEvent(EVENTS[3] as DomainEvent, { rulesVersion: 'r' });
  const bare = roundTrip(event);
  for (const column of COMPACT_EVENT_COLUMNS.filter((c) => c !== 'at' && c !== 'data')) t.equal(bare.columns[column], undefined, `${column} unset`);
  const uuid = '9b2f4c1e-7a3d-4e5f-8c6b-2d1a0f9e8b7c';
  const withIds = roundTrip({ ...event, requestId: uuid, correlationId: 'edge-7f3a' });
  t.equal((withIds.columns.data as Buffer).length, (bare.columns.data as Buffer).length + 16 + 'edge-7f3a'.length, 'a UUID is 16 bytes, a text id its length');
  t.equal(withIds.record.requestId, uuid);
  t.equal(withIds.record.correlationId, 'edge-7f3a');
  // An upper-case UUID would read back lower case from 16 bytes: kept as text.
  const upper = roundTrip({ ...event, correlationId: uuid.toUpperCase() });
  t.equal((upper.columns.data as Buffer).length, (bare.columns.data as Buffer).length + 36);
  t.equal(upper.record.correlationId, uuid.toUpperCase());
});

t.test('what the binary form cannot hold is kept as the exact JSON text', async (t) => {
  const base = encodeEvent(EVENTS[0] as DomainEvent, { rulesVersion: 'r' });
  const payloads = [
    // another key order
    JSON.stringify({ deviceId: 'phone-1', licenseId: LICENSE, titleId: 't', studioId: null, expiresAt: T }),
    // an extra field
    JSON.stringify({ licenseId: LICENSE, deviceId: 'p', titleId: 't', studioId: null, expiresAt: T, extra: 1 }),
    // a missing field, a wrong type, a fraction, a time out of any range, not JSON at all
    JSON.stringify({ licenseId: LICENSE, deviceId: 'p', titleId: 't', expiresAt: T }),
    JSON.stringify({ licenseId: 5, deviceId: 'p', titleId: 't', studioId: null, expiresAt: T }),
    JSON.stringify({ licenseId: LICENSE, deviceId: 'p', titleId: 't', studioId: null, expiresAt: T + 0.5 }),
    JSON.stringify({ licenseId: LICENSE, deviceId: 'p', titleId: 't', studioId: null, expiresAt: -Number.MAX_SAFE_INTEGER }),
    '{"licen',
    '{ "licenseId": "spaced" }',
  ];
  for (const payload of payloads) {
    const written = { ...base, payload };
    const { record, header } = roundTrip(written);
    t.ok(header.kind > 0 && header.json, `JSON body for ${payload}`);
    t.equal(record.payload, payload, 'byte for byte');
    t.equal(record.type, 'LicenseAcquired');
    t.equal(record.aggregateName, 'license');
    t.equal(record.aggregateId, LICENSE, 'the aggregate stays the stored one even when the payload does not name it');
  }
});

t.test('rows outside the kind table keep every field explicitly', async (t) => {
  const rows: NewEventRecord[] = [
    // an unknown type, an unknown version, another serializer, a row under another aggregate than its event names
    { ...encodeEvent(EVENTS[3] as DomainEvent, { rulesVersion: 'r' }), type: 'TestEvent', aggregateName: 'widget', aggregateId: 'w1', payload: '{"n":1}' },
    { ...encodeEvent(EVENTS[5] as DomainEvent, { rulesVersion: 'r' }), schemaVersion: 9 },
    { ...encodeEvent(EVENTS[3] as DomainEvent, { rulesVersion: 'r' }), serializer: 'avro', payload: 'not json at all ✓' },
    { ...encodeEvent(EVENTS[5] as DomainEvent, { rulesVersion: 'r' }), aggregateId: 'L9' },
    encodeVoid(
      { generation: 0, position: 4, type: 'LicenseTeleported', schemaVersion: 1, aggregateName: 'license', aggregateId: 'L1' },
      { at: T, reason: 'bad row', rulesVersion: 'r', correlationId: null },
    ),
  ];
  for (const written of rows) {
    const { record } = roundTrip(written);
    t.same(record, { ...written, correlationId: written.correlationId ?? null, memberId: 'm', generation: 3, position: 12 }, `${written.type} v${written.schemaVersion}`);
  }
});

t.test('a version-1 LicenseReleased row is stored as version 1 and upcast on read', async (t) => {
  const v1: NewEventRecord = { ...encodeEvent(EVENTS[5] as DomainEvent, { rulesVersion: 'r' }), schemaVersion: 1, payload: JSON.stringify({ licenseId: LICENSE }) };
  const { record, header } = roundTrip(v1);
  t.equal(header.kind, kindCodeOf('LicenseReleased', 1));
  t.equal(record.schemaVersion, 1);
  t.same(decodeEvent(record), { type: 'LicenseReleased', at: T + 2 * DAY, licenseId: LICENSE, cause: 'member' });
});

t.test('a row this code cannot read comes back as a row the event codec refuses by name', async (t) => {
  // kind 999 (binary), rules id 1, no ids, a body
  t.throws(() => decodeEvent(decodeRaw(Buffer.from([0xce, 0x0f, 1, 0, 0, 1, 2]))), { code: 'EVENT_DECODE_FAILED' }, 'an unknown kind');
  // DeviceRegistered (kind 7, binary) whose body ends early
  t.throws(() => decodeEvent(decodeRaw(Buffer.from([14, 1, 0, 0, 200]))), { code: 'EVENT_DECODE_FAILED' }, 'a damaged body');
  t.throws(() => decodeEvent(decodeRaw(Buffer.from([0xff]))), { code: 'EVENT_DECODE_FAILED' }, 'a damaged header');
});

t.test('times are stored relative to the row: an expiry a month ahead is 5 bytes', async (t) => {
  const code = kindCodeOf('LicenseRenewed', 1) as number;
  const body = encodeCompactPayload(code, JSON.stringify({ licenseId: LICENSE, expiresAt: T + 30 * DAY, renewals: 1 }), T);
  t.ok(body);
  t.equal(body?.length, 1 + 16 + 5 + 1, 'uuid header + 16 bytes, 5-byte delta, 1-byte count');
  t.equal(decodeCompactPayload(code, body as Buffer, T), JSON.stringify({ licenseId: LICENSE, expiresAt: T + 30 * DAY, renewals: 1 }));
  const before = encodeCompactPayload(code, JSON.stringify({ licenseId: 'x', expiresAt: 0, renewals: 0 }), 253402300799999);
  t.equal(decodeCompactPayload(code, before as Buffer, 253402300799999), JSON.stringify({ licenseId: 'x', expiresAt: 0, renewals: 0 }), 'the whole time range, backwards');
});

t.test('table options: the config defaults are the real-time preset, rendered and compared as Cassandra reports them', async (t) => {
  const config = parseConfig({ rules: testRules() }, null);
  t.same(config.service.cassandra.tables, REALTIME_TABLE_OPTIONS);
  t.equal(compressionCql(REALTIME_TABLE_OPTIONS.events), "{'class': 'LZ4Compressor', 'chunk_length_in_kb': '16'}");
  t.equal(compressionCql(ARCHIVE_TABLE_OPTIONS.events), "{'class': 'ZstdCompressor', 'chunk_length_in_kb': '64', 'compression_level': '3'}");
  t.equal(compressionCql({ compression: { algorithm: 'none', chunkKb: 16 } }), "{'enabled': 'false'}");
  t.throws(() => compressionCql({ compression: { algorithm: 'LZ4', chunkKb: 12 } }), /power of two/);
  const reported = { class: 'org.apache.cassandra.io.compress.LZ4Compressor', chunk_length_in_kb: '16' };
  t.ok(compressionMatches(reported, REALTIME_TABLE_OPTIONS.events));
  t.notOk(compressionMatches(reported, ARCHIVE_TABLE_OPTIONS.events), 'another algorithm: altered at start');
  t.notOk(compressionMatches({ ...reported, chunk_length_in_kb: '4' }, REALTIME_TABLE_OPTIONS.events), 'another chunk size: altered at start');
  t.ok(compressionMatches({ class: 'org.apache.cassandra.io.compress.ZstdCompressor', chunk_length_in_kb: '64', compression_level: '3' }, ARCHIVE_TABLE_OPTIONS.events));
  t.throws(() => parseConfig({ service: { cassandra: { tables: { events: { compression: { algorithm: 'LZ4', chunkKb: 12 } } } } }, rules: testRules() }, null), /chunkKb/);
});

t.test('an append whose outcome is unknown recognises its own first row, and only its own', async (t) => {
  // The rules version's id, as the store would find it already allocated.
  const execute = (): Promise<cassandra.types.ResultSet> => Promise.resolve({ first: () => ({ id: 5 }), rows: [] } as unknown as cassandra.types.ResultSet);
  const layout = compactLayout(execute);
  const mine = encodeEvent(EVENTS[3] as DomainEvent, { rulesVersion: 'r', correlationId: 'edge-1' });
  const [encoded] = await layout.encode('m', 0, 4, [mine]);
  if (!encoded) throw new Error('nothing encoded');
  t.same(encoded.key, ['m', 0, 4]);
  t.match(layout.readBack, /SELECT at, data FROM events_v2 WHERE member_id = \? AND generation = \? AND position = \?/);
  const row = (event: NewEventRecord): cassandra.types.Row =>
    ({ at: cassandra.types.Long.fromNumber(event.at), data: encodeCompactRow(event, 5).data }) as unknown as cassandra.types.Row;
  t.ok(encoded.isSame(row(mine)), 'the same event');
  t.notOk(encoded.isSame(row({ ...mine, correlationId: 'edge-2' })), "another writer's event at the same time");
  t.notOk(encoded.isSame(row({ ...mine, at: mine.at + 1 })), 'another time');
});

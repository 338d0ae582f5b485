/**
 * One event as a compact `events_v2` row and back (docs/storage.md, "Compact rows").
 *
 * A row is its time (`at`) and one blob (`data`):
 *
 *   varint  kind * 2 + json   the event type and schema version as a small integer (0: none, see
 *                              below); json = 1 when the body is the payload's JSON text
 *   varint  rules id          the rules version (rules-ids.ts)
 *   id      request id        0 none, 1 + 16 bytes a lower-case UUID, 2 + n then n bytes of text
 *   id      correlation id    the same
 *   rest    body              the payload: binary (compact-payload.ts) or its JSON text
 *
 * One cell instead of six saves each one's flags and length (measured: 3 to 4 bytes an event
 * after compression). The aggregate is not stored: it is the one the event names (a license
 * event its licenseId, ...), as the codec checks on every read anyway. What the kind table cannot
 * say is stored in columns of its own, unset otherwise, so every EventRecord comes back whole: a
 * type or version without a kind (type_name, schema_version), a serializer other than JSON, a row
 * filed under an aggregate its event does not name (a void sits under the row it voids).
 * Absent values are left unset, never bound as null: a null is a cell tombstone.
 */
import cassandra from 'cassandra-driver';
import { aggregateOf, type AggregateRef, type DomainEvent } from '../../domain/events.ts';
import { JSON_SERIALIZER } from '../codec/event-codec.ts';
import { decodeCompactPayload, encodeCompactPayload, kindCodeOf, kindOfCode, readId, Reader, writeId, Writer } from '../codec/compact-payload.ts';
import type { EventRecord, NewEventRecord } from '../event-store.ts';

const { types } = cassandra;

/** The event columns of events_v2, in the order the insert binds them (after member_id, generation, position). */
export const COMPACT_EVENT_COLUMNS = ['at', 'data', 'type_name', 'schema_version', 'serializer', 'aggregate_name', 'aggregate_id'] as const;

type Column = (typeof COMPACT_EVENT_COLUMNS)[number];

/** A row's event columns; an absent key is left unset. */
export type CompactColumns = Partial<Record<Column, unknown>>;

/** The blob's header, as read back. */
export interface CompactHeader {
  /** The kind code, 0 for a row whose type and version are in columns. */
  kind: number;
  /** Whether the body is JSON text (else the kind's binary form). */
  json: boolean;
  rulesId: number;
  requestId: string | null;
  correlationId: string | null;
  body: Buffer;
}

const DOMAIN_TYPES = new Set(['LicenseAcquired', 'LicenseRenewed', 'LicenseReleased', 'PlaybackRecorded', 'TitleDownloaded', 'DeviceRegistered', 'DeviceDeactivated']);

/** The aggregate a payload names, when its type is a domain event and the payload names one. */
function derivedAggregate(type: string, payload: string): AggregateRef | null {
  if (!DOMAIN_TYPES.has(type)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  // A payload missing its id field names no aggregate (undefined id): then none is derived.
  const ref: AggregateRef | undefined = aggregateOf({ ...parsed, type } as DomainEvent);
  return ref !== undefined && typeof ref.id === 'string' ? ref : null;
}

export function encodeCompactRow(event: NewEventRecord, rulesId: number): CompactColumns {
  const columns: CompactColumns = { at: types.Long.fromNumber(event.at) };
  const code = event.serializer === JSON_SERIALIZER ? kindCodeOf(event.type, event.schemaVersion) : null;
  const binary = code === null ? null : encodeCompactPayload(code, event.payload, event.at);
  if (code === null) {
    Object.assign(columns, { type_name: event.type, schema_version: event.schemaVersion });
    if (event.serializer !== JSON_SERIALIZER) columns.serializer = event.serializer;
  }
  const derived = derivedAggregate(event.type, event.payload);
  if (derived === null || derived.name !== event.aggregateName || derived.id !== event.aggregateId) {
    Object.assign(columns, { aggregate_name: event.aggregateName, aggregate_id: event.aggregateId });
  }
  const w = new Writer();
  w.varint((code ?? 0) * 2 + (binary ? 0 : 1));
  w.varint(rulesId);
  writeId(w, event.requestId, true);
  writeId(w, event.correlationId ?? null, true);
  w.bytes(binary ?? Buffer.from(event.payload, 'utf8'));
  columns.data = w.done();
  return columns;
}

/** The insert's values after the key: unset where a column is absent. */
export function boundValues(columns: CompactColumns): unknown[] {
  return COMPACT_EVENT_COLUMNS.map((column) => (columns[column] === undefined ? types.unset : columns[column]));
}

/** Reads a row's blob header (throws on a damaged one). */
export function readCompactHeader(data: Buffer): CompactHeader {
  const r = new Reader(data);
  const kindAndJson = r.varint();
  const rulesId = r.varint();
  const requestId = readId(r);
  const correlationId = readId(r);
  return { kind: Math.floor(kindAndJson / 2), json: kindAndJson % 2 === 1, rulesId, requestId, correlationId, body: r.rest() };
}

function text(row: cassandra.types.Row, column: Column): string | null {
  const value: unknown = row[column];
  return typeof value === 'string' ? value : null;
}

function binaryPayload(kind: number, body: Buffer, at: number): string {
  try {
    return decodeCompactPayload(kind, body, at);
  } catch (error) {
    return `(undecodable binary payload: ${(error as Error).message}) ${body.toString('hex')}`;
  }
}

/**
 * An events_v2 row as the EventRecord it was written from. `header`: readCompactHeader of its
 * data; `rulesVersion`: the version its rules id names.
 */
export function decodeCompactRow(
  row: cassandra.types.Row,
  header: CompactHeader,
  key: { memberId: string; generation: number; position: number },
  rulesVersion: string,
): EventRecord {
  const at = (row['at'] as cassandra.types.Long).toNumber();
  let type: string;
  let schemaVersion: number;
  let payload: string;
  if (header.kind === 0) {
    type = text(row, 'type_name') ?? '';
    schemaVersion = (row['schema_version'] as number | null) ?? 0;
    payload = header.body.toString('utf8');
  } else {
    // A kind this code does not know (written by a newer version), or a body that does not
    // decode, still comes back as a row: the event codec then refuses it by name
    // (EVENT_DECODE_FAILED), as it refuses an unknown type, and `repair` can void it.
    const known = kindOfCode(header.kind);
    type = known?.type ?? `unknown-kind-${header.kind}`;
    schemaVersion = known?.version ?? 1;
    payload = header.json ? header.body.toString('utf8') : binaryPayload(header.kind, header.body, at);
  }
  const stored = text(row, 'aggregate_name');
  // Not derivable only for a row this code cannot read: an empty aggregate, which the codec refuses.
  const aggregate = stored !== null ? { name: stored, id: text(row, 'aggregate_id') ?? '' } : (derivedAggregate(type, payload) ?? { name: '', id: '' });
  return {
    memberId: key.memberId,
    generation: key.generation,
    aggregateName: aggregate.name,
    aggregateId: aggregate.id,
    at,
    position: key.position,
    type,
    schemaVersion,
    serializer: text(row, 'serializer') ?? JSON_SERIALIZER,
    payload,
    rulesVersion,
    requestId: header.requestId,
    correlationId: header.correlationId,
  };
}

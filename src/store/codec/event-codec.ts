/**
 * Serialises domain events to rows and back. Each row carries its event type, the schema
 * version it was written with and the serializer id. Reading an older version upcasts it step
 * by step to the current one, filling new fields with declared defaults; an unknown type, an
 * unknown serializer, a version newer than this code knows, a payload missing a field or of the
 * wrong shape, or a time outside the representable range is an EventDecodeError that names the
 * row, never a silently wrong state (nor a 500 later, when the bad value is shown).
 *
 * Writing refuses an event with a time outside the representable range (TIME_OUT_OF_RANGE): no
 * row is ever stored that this code could not read back.
 */
import { aggregateOf, type DomainEvent, type EventType } from '../../domain/events.ts';
import type { EventMetadata } from '../../domain/member/state.ts';
import { firstUnrepresentableTime, isRepresentable, MAX_ISO, MIN_ISO } from '../../domain/time-range.ts';
import { AppError } from '../../errors/catalog.ts';
import type { EventRecord, NewEventRecord } from '../event-store.ts';

export const JSON_SERIALIZER = 'json';

type Payload = Record<string, unknown>;

interface EventSchema {
  /** The version this code writes. */
  current: number;
  /** upcast[v] turns a version-v payload into a version-(v+1) payload. */
  upcast: Record<number, (payload: Payload) => Payload>;
}

const EVENT_SCHEMAS: Record<EventType, EventSchema> = {
  LicenseAcquired: { current: 1, upcast: {} },
  LicenseRenewed: { current: 1, upcast: {} },
  // Version 2 added `cause`, to tell a member's release from one done by a device
  // deactivation. Version-1 rows were all written by members releasing.
  LicenseReleased: { current: 2, upcast: { 1: (payload) => ({ ...payload, cause: 'member' }) } },
  PlaybackRecorded: { current: 1, upcast: {} },
  TitleDownloaded: { current: 1, upcast: {} },
  DeviceRegistered: { current: 1, upcast: {} },
  DeviceDeactivated: { current: 1, upcast: {} },
};

type FieldCheck = (value: unknown) => boolean;
const text: FieldCheck = (v) => typeof v === 'string';
const textOrNull: FieldCheck = (v) => v === null || typeof v === 'string';
const instant: FieldCheck = (v) => typeof v === 'number' && isRepresentable(v);
const count: FieldCheck = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const oneOf =
  (...values: string[]): FieldCheck =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const texts: FieldCheck = (v) => Array.isArray(v) && v.every(text);
const sessions: FieldCheck = (v) =>
  Array.isArray(v) &&
  v.every((s: unknown) => {
    if (typeof s !== 'object' || s === null) return false;
    const { sessionId, startedAt, durationMs } = s as Record<string, unknown>;
    return text(sessionId) && instant(startedAt) && count(durationMs) && isRepresentable((startedAt as number) + (durationMs as number));
  });

/** The fields each event type has once upcast to its current version, and what each must hold. */
const EVENT_FIELDS: Record<EventType, Record<string, FieldCheck>> = {
  LicenseAcquired: { licenseId: text, deviceId: text, titleId: text, studioId: textOrNull, expiresAt: instant },
  LicenseRenewed: { licenseId: text, expiresAt: instant, renewals: count },
  LicenseReleased: { licenseId: text, cause: oneOf('member', 'device-deactivated') },
  PlaybackRecorded: { licenseId: text, sessions },
  TitleDownloaded: { titleId: text, licenseId: text, deviceId: text, via: oneOf('acquire', 'renew') },
  DeviceRegistered: { deviceId: text },
  DeviceDeactivated: { deviceId: text, releasedLicenseIds: texts },
};

/** Every event type this code reads (the compact rows' kind table must cover each of its versions). */
export function knownEventTypes(): EventType[] {
  return Object.keys(EVENT_SCHEMAS) as EventType[];
}

export function currentSchemaVersion(type: EventType): number {
  return EVENT_SCHEMAS[type].current;
}

export class EventDecodeError extends Error {
  override name = 'EventDecodeError';
  readonly code = 'EVENT_DECODE_FAILED';
  constructor(
    readonly row: Pick<EventRecord, 'memberId' | 'generation' | 'aggregateName' | 'aggregateId' | 'position' | 'type' | 'schemaVersion'>,
    reason: string,
    /** What could not be done with the row: decode it, or apply it to the member's state. */
    failed: 'decode' | 'apply' = 'decode',
  ) {
    super(
      `cannot ${failed} event row member=${row.memberId} generation=${row.generation} aggregate=${row.aggregateName}/${row.aggregateId} position=${row.position} type=${row.type} version=${row.schemaVersion}: ${reason}`,
    );
  }
}

export function encodeEvent(event: DomainEvent, metadata: EventMetadata): NewEventRecord {
  // The service refuses such commands before it gets here; this is the last line, for any writer.
  const outside = firstUnrepresentableTime([event]);
  if (outside) {
    throw new AppError('TIME_OUT_OF_RANGE', `${event.type}.${outside.field} would be ${outside.at}, outside ${MIN_ISO} to ${MAX_ISO}; nothing was written`, {
      field: outside.field,
    });
  }
  // `type` and `at` are row columns; the payload holds the rest.
  const { type, at, ...payload } = event;
  const aggregate = aggregateOf(event);
  return {
    aggregateName: aggregate.name,
    aggregateId: aggregate.id,
    at,
    type,
    schemaVersion: EVENT_SCHEMAS[type].current,
    serializer: JSON_SERIALIZER,
    payload: JSON.stringify(payload),
    rulesVersion: metadata.rulesVersion,
    requestId: metadata.requestId ?? null,
    correlationId: metadata.correlationId ?? null,
  };
}

export function decodeEvent(row: EventRecord): DomainEvent {
  if (!Object.hasOwn(EVENT_SCHEMAS, row.type)) throw new EventDecodeError(row, `unknown event type "${row.type}"`);
  const schema = EVENT_SCHEMAS[row.type as EventType];
  if (row.serializer !== JSON_SERIALIZER) throw new EventDecodeError(row, `unknown serializer "${row.serializer}"`);
  if (!Number.isInteger(row.schemaVersion) || row.schemaVersion < 1) throw new EventDecodeError(row, 'schema version must be a positive integer');
  if (row.schemaVersion > schema.current) {
    throw new EventDecodeError(row, `written by a newer schema (this code knows up to version ${schema.current})`);
  }
  let payload: unknown;
  try {
    payload = JSON.parse(row.payload);
  } catch (error) {
    throw new EventDecodeError(row, `payload is not JSON: ${(error as Error).message}`);
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new EventDecodeError(row, 'payload is not an object');
  let upcasted = payload as Payload;
  for (let version = row.schemaVersion; version < schema.current; version++) {
    const step = schema.upcast[version];
    if (!step) throw new EventDecodeError(row, `no upcaster from version ${version}`);
    upcasted = step(upcasted);
  }
  if (!instant(row.at)) throw new EventDecodeError(row, `its time ${row.at} is outside ${MIN_ISO} to ${MAX_ISO}`);
  for (const [field, check] of Object.entries(EVENT_FIELDS[row.type as EventType])) {
    if (!check(Object.hasOwn(upcasted, field) ? upcasted[field] : undefined)) throw new EventDecodeError(row, `payload field "${field}" is missing or invalid`);
  }
  const event = { ...upcasted, type: row.type, at: row.at } as DomainEvent;
  // The row is clustered under its aggregate: an event naming another one would fold elsewhere.
  const aggregate = aggregateOf(event);
  if (aggregate.name !== row.aggregateName || aggregate.id !== row.aggregateId) {
    throw new EventDecodeError(row, `payload names aggregate ${aggregate.name}/${aggregate.id}, not the row's`);
  }
  return event;
}

export function metadataOf(row: EventRecord): EventMetadata {
  return { rulesVersion: row.rulesVersion, requestId: row.requestId ?? undefined, correlationId: row.correlationId ?? undefined };
}

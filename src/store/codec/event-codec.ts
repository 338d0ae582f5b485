/**
 * Serialises domain events to rows and back. Each row carries its event type, the schema
 * version it was written with and the serializer id. Reading an older version upcasts it step
 * by step to the current one, filling new fields with declared defaults; an unknown type, an
 * unknown serializer or a version newer than this code knows is an EventDecodeError that names
 * the row, never a silently wrong state.
 */
import { aggregateOf, type DomainEvent, type EventType } from '../../domain/events.ts';
import type { EventMetadata } from '../../domain/member/state.ts';
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

export function currentSchemaVersion(type: EventType): number {
  return EVENT_SCHEMAS[type].current;
}

export class EventDecodeError extends Error {
  override name = 'EventDecodeError';
  readonly code = 'EVENT_DECODE_FAILED';
  constructor(
    readonly row: Pick<EventRecord, 'memberId' | 'generation' | 'aggregateName' | 'aggregateId' | 'position' | 'type' | 'schemaVersion'>,
    reason: string,
  ) {
    super(
      `cannot decode event row member=${row.memberId} generation=${row.generation} aggregate=${row.aggregateName}/${row.aggregateId} position=${row.position} type=${row.type} version=${row.schemaVersion}: ${reason}`,
    );
  }
}

export function encodeEvent(event: DomainEvent, metadata: EventMetadata): NewEventRecord {
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
  return { ...upcasted, type: row.type, at: row.at } as DomainEvent;
}

export function metadataOf(row: EventRecord): EventMetadata {
  return { rulesVersion: row.rulesVersion, requestId: row.requestId ?? undefined, correlationId: row.correlationId ?? undefined };
}

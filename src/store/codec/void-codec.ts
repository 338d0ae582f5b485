/**
 * `EventVoided`: the compensating row an operator appends (`license-accounting repair`) when a
 * stored row of a member cannot be decoded or applied. History is never edited: the bad row
 * stays, and every fold (the actors' loads, the debug API, replay checks) skips the row a void
 * names. It is a row-level fact, not a business event: the domain never sees it, it changes no
 * aggregate, and it sits under the aggregate of the row it voids (so it is read, and shown by
 * the debug API's aggregate filter, next to that row).
 */
import { isRepresentable } from '../../domain/time-range.ts';
import type { EventRecord, NewEventRecord } from '../event-store.ts';
import { EventDecodeError, JSON_SERIALIZER } from './event-codec.ts';

export const EVENT_VOIDED = 'EventVoided';
const VOID_SCHEMA_VERSION = 1;

/** What a void names: the row (generation and member-wide position) and what that row claimed to be. */
export interface VoidedRow {
  generation: number;
  position: number;
  type: string;
  schemaVersion: number;
  /** Why the operator voided it, for the audit trail. */
  reason: string;
}

export function isVoidRow(row: Pick<EventRecord, 'type'>): boolean {
  return row.type === EVENT_VOIDED;
}

export function voidKey(generation: number, position: number): string {
  return `${generation}:${position}`;
}

export function encodeVoid(
  target: Pick<EventRecord, 'generation' | 'position' | 'type' | 'schemaVersion' | 'aggregateName' | 'aggregateId'>,
  options: { at: number; reason: string; rulesVersion: string; correlationId: string | null },
): NewEventRecord {
  const voided: VoidedRow = {
    generation: target.generation,
    position: target.position,
    type: target.type,
    schemaVersion: target.schemaVersion,
    reason: options.reason,
  };
  return {
    aggregateName: target.aggregateName,
    aggregateId: target.aggregateId,
    at: options.at,
    type: EVENT_VOIDED,
    schemaVersion: VOID_SCHEMA_VERSION,
    serializer: JSON_SERIALIZER,
    payload: JSON.stringify(voided),
    rulesVersion: options.rulesVersion,
    requestId: null,
    correlationId: options.correlationId,
  };
}

export function decodeVoid(row: EventRecord): VoidedRow {
  if (row.serializer !== JSON_SERIALIZER) throw new EventDecodeError(row, `unknown serializer "${row.serializer}"`);
  if (row.schemaVersion !== VOID_SCHEMA_VERSION) throw new EventDecodeError(row, `this code reads only version ${VOID_SCHEMA_VERSION} of ${EVENT_VOIDED}`);
  if (!isRepresentable(row.at)) throw new EventDecodeError(row, `its time ${row.at} is outside the representable range`);
  let body: unknown;
  try {
    body = JSON.parse(row.payload);
  } catch (error) {
    throw new EventDecodeError(row, `payload is not JSON: ${(error as Error).message}`);
  }
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const { generation, position, type, schemaVersion, reason } = b;
  if (!Number.isSafeInteger(generation) || !Number.isSafeInteger(position) || typeof type !== 'string' || !Number.isSafeInteger(schemaVersion) || typeof reason !== 'string') {
    throw new EventDecodeError(row, 'payload is not a void (generation, position, type, schemaVersion, reason)');
  }
  return { generation: generation as number, position: position as number, type, schemaVersion: schemaVersion as number, reason };
}

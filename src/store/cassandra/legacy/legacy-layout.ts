/**
 * The previous row layout (tables `events` and `snapshots`, schema: ./schema-v1.cql): one wide
 * row per event, clustered by aggregate name, aggregate id, time and position, with the payload
 * as JSON text and every id as text. Kept, exactly as the previous release wrote and read it, for
 * the migration (`license-accounting migrate`) that copies such a keyspace into the compact
 * layout, for `replay --check --against-legacy`, and for the tests that write a keyspace as the
 * previous release did. The service's write path never uses it.
 */
import cassandra from 'cassandra-driver';
import type { EventRecord } from '../../event-store.ts';
import type { RowLayout } from '../row-layout.ts';
import { num } from '../rows.ts';

const { types } = cassandra;
type Row = cassandra.types.Row;

export function toLegacyEventRecord(row: Row): EventRecord {
  return {
    memberId: row['member_id'] as string,
    generation: row['generation'] as number,
    aggregateName: row['aggregate_name'] as string,
    aggregateId: row['aggregate_id'] as string,
    at: num(row['at']),
    position: row['position'] as number,
    type: row['type'] as string,
    schemaVersion: row['schema_version'] as number,
    serializer: row['serializer'] as string,
    payload: row['payload'] as string,
    rulesVersion: row['rules_version'] as string,
    requestId: (row['request_id'] as string | null) ?? null,
    correlationId: (row['correlation_id'] as string | null) ?? null,
  };
}

export const LEGACY_LAYOUT: RowLayout = {
  tables: { events: 'events', snapshots: 'snapshots' },
  insertEvent:
    'INSERT INTO events (member_id, generation, aggregate_name, aggregate_id, at, position, type, schema_version, serializer, payload, rules_version, request_id, correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  readGeneration:
    'SELECT member_id, generation, aggregate_name, aggregate_id, at, position, type, schema_version, serializer, payload, rules_version, request_id, correlation_id FROM events WHERE member_id = ? AND generation = ?',
  readBack: 'SELECT position FROM events WHERE member_id = ? AND generation = ? AND aggregate_name = ? AND aggregate_id = ? AND at = ? AND position = ?',
  encode(memberId, generation, firstPosition, events) {
    return Promise.resolve(
      events.map((event, index) => {
        const position = firstPosition + index;
        const at = types.Long.fromNumber(event.at);
        return {
          // Null request and correlation ids bound as null: two cell tombstones per event, as
          // the previous release wrote them.
          params: [
            memberId,
            generation,
            event.aggregateName,
            event.aggregateId,
            at,
            position,
            event.type,
            event.schemaVersion,
            event.serializer,
            event.payload,
            event.rulesVersion,
            event.requestId,
            event.correlationId ?? null,
          ],
          key: [memberId, generation, event.aggregateName, event.aggregateId, at, position],
          isSame: () => true,
        };
      }),
    );
  },
  decode(_memberId, _generation, rows) {
    // The static head makes a partition with no events yet return one row of nulls.
    return Promise.resolve(rows.filter((row) => row['aggregate_name'] !== null).map(toLegacyEventRecord));
  },
};

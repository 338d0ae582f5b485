/** Cassandra rows as the store contract's records: one mapping, whichever tier or layout read them. */
import cassandra from 'cassandra-driver';
import type { SnapshotRecord } from '../event-store.ts';

type Row = cassandra.types.Row;

/** A bigint column (a driver Long, or a number where the driver gives one) as a number; null is a bug. */
export function num(value: unknown): number {
  if (value === null || value === undefined) throw new Error('unexpected null number');
  return typeof value === 'number' ? value : (value as cassandra.types.Long).toNumber();
}

/** A row of a snapshots table (member_id, generation, position, taken_at, schema_version, payload). */
export function toSnapshotRecord(row: Row): SnapshotRecord {
  return {
    memberId: row['member_id'] as string,
    generation: row['generation'] as number,
    position: row['position'] as number,
    takenAt: num(row['taken_at']),
    schemaVersion: row['schema_version'] as number,
    payload: row['payload'] as string,
  };
}

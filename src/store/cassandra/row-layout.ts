/**
 * How the Cassandra store lays events out in rows. The store's protocol (the fenced one-round
 * append, the sealing snapshots, the head in static columns) is the same for every layout; a
 * layout says which tables, how an event becomes a row and back, and how an append whose outcome
 * is unknown recognises its own first row.
 *
 * The service writes the compact layout only (`compactLayout`, tables events_v2 and
 * snapshots_v2). The previous layout lives in ./legacy/, for the migration that copies it and the
 * tests that write a keyspace as the previous release did.
 */
import cassandra from 'cassandra-driver';
import type { EventRecord, NewEventRecord } from '../event-store.ts';
import { boundValues, COMPACT_EVENT_COLUMNS, decodeCompactRow, encodeCompactRow, readCompactHeader, type CompactHeader } from './compact-row.ts';
import { RulesIds } from './rules-ids.ts';

type Row = cassandra.types.Row;

/** An event ready to insert at its position, with what identifies its row for a read-back. */
export interface EncodedEvent {
  /** The insert's parameters (key first). */
  params: unknown[];
  /** The read-back query's parameters. */
  key: unknown[];
  /** Whether a row the read-back found is this event (not another writer's at the same place). */
  isSame(row: Row): boolean;
}

export interface RowLayout {
  readonly tables: { readonly events: string; readonly snapshots: string };
  readonly insertEvent: string;
  /** Every event row of a partition (member_id, generation), in clustering order. */
  readonly readGeneration: string;
  /** One event row, by the key an EncodedEvent gives. */
  readonly readBack: string;
  encode(memberId: string, generation: number, firstPosition: number, events: readonly NewEventRecord[]): Promise<EncodedEvent[]>;
  /** A page of readGeneration's rows as records (the static-only row of an empty partition is skipped). */
  decode(memberId: string, generation: number, rows: readonly Row[]): Promise<EventRecord[]>;
}

/** A damaged blob still reads as a row (of no known type), which the event codec refuses by name. */
function headerOf(row: Row): CompactHeader {
  const data = Buffer.isBuffer(row['data']) ? row['data'] : Buffer.alloc(0);
  try {
    return readCompactHeader(data);
  } catch {
    return { kind: 0, json: true, rulesId: 0, requestId: null, correlationId: null, body: data };
  }
}

type Execute = (query: string, params: unknown[], what: string, serial?: boolean) => Promise<cassandra.types.ResultSet>;

/** The compact layout: a partition (member_id, generation) clustered by position only. */
export function compactLayout(execute: Execute): RowLayout {
  const rules = new RulesIds(execute);
  const columns = COMPACT_EVENT_COLUMNS.join(', ');
  return {
    tables: { events: 'events_v2', snapshots: 'snapshots_v2' },
    insertEvent: `INSERT INTO events_v2 (member_id, generation, position, ${columns}) VALUES (?, ?, ?, ${COMPACT_EVENT_COLUMNS.map(() => '?').join(', ')})`,
    readGeneration: `SELECT position, ${columns} FROM events_v2 WHERE member_id = ? AND generation = ?`,
    readBack: 'SELECT at, data FROM events_v2 WHERE member_id = ? AND generation = ? AND position = ?',
    async encode(memberId, generation, firstPosition, events) {
      const encoded: EncodedEvent[] = [];
      for (const [index, event] of events.entries()) {
        const row = encodeCompactRow(event, await rules.idOf(event.rulesVersion));
        const position = firstPosition + index;
        const data = row.data as Buffer;
        encoded.push({
          params: [memberId, generation, position, ...boundValues(row)],
          key: [memberId, generation, position],
          isSame: (found) => (found['at'] as cassandra.types.Long).toNumber() === event.at && Buffer.isBuffer(found['data']) && data.equals(found['data']),
        });
      }
      return encoded;
    },
    async decode(memberId, generation, rows) {
      const events = rows.filter((row) => row['position'] !== null).map((row) => ({ row, header: headerOf(row) }));
      const versions = new Map<number, string>();
      // Ids start at 1; 0 is a damaged row's (headerOf).
      for (const { header } of events) if (header.rulesId !== 0 && !versions.has(header.rulesId)) versions.set(header.rulesId, await rules.versionOf(header.rulesId));
      return events.map(({ row, header }) => decodeCompactRow(row, header, { memberId, generation, position: row['position'] as number }, versions.get(header.rulesId) ?? ''));
    },
  };
}

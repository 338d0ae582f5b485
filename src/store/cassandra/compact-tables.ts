/**
 * The compact event tables (docs/storage.md, "Compact rows"): their DDL for a keyspace and
 * table options, and `ensureCompactTables`, which creates them if missing and brings their
 * compression to the options (an ALTER only when it differs: the new setting applies to
 * SSTables written from then on). Used by the service's schema and by whatever else needs the
 * same tables elsewhere (a benchmark, another tier) with other options.
 */
import type { Client } from 'cassandra-driver';
import { compressionCql, compressionMatches, type EventTablesOptions } from './table-options.ts';

const KEYSPACE = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

function checked(keyspace: string): string {
  if (!KEYSPACE.test(keyspace)) throw new Error(`invalid keyspace name "${keyspace}"`);
  return keyspace;
}

/**
 * CREATE TABLE statements of events_v2 and snapshots_v2 in `keyspace`.
 *
 * events_v2: one partition per member and generation, one row per event at its member-wide
 * position: its time, and one blob with its kind, rules version id, request and correlation ids
 * and payload (compact-row.ts); the other columns are set only for rows the blob cannot describe.
 * The head, the owner and the sealed position are static columns of the partition, so an append
 * is one conditional batch on one partition (one Paxos round), as before.
 */
export function compactTableStatements(keyspace: string, options: EventTablesOptions): string[] {
  const ks = checked(keyspace);
  return [
    `CREATE TABLE IF NOT EXISTS ${ks}.events_v2 (
  member_id        text,
  generation       int,
  position         int,
  at               bigint,
  data             blob,
  type_name        text,
  schema_version   int,
  serializer       text,
  aggregate_name   text,
  aggregate_id     text,
  head_position    int static,
  owner_epoch      int static,
  owner_node       text static,
  sealed_position  int static,
  PRIMARY KEY ((member_id, generation), position)
) WITH compression = ${compressionCql(options.events)}`,
    `CREATE TABLE IF NOT EXISTS ${ks}.snapshots_v2 (
  member_id      text,
  generation     int,
  position       int,
  taken_at       bigint,
  schema_version int,
  payload        text,
  PRIMARY KEY (member_id, generation)
) WITH CLUSTERING ORDER BY (generation DESC) AND compression = ${compressionCql(options.snapshots)}`,
  ];
}

/** Creates the compact tables if missing and brings their compression to `options`. */
export async function ensureCompactTables(client: Client, keyspace: string, options: EventTablesOptions): Promise<void> {
  for (const statement of compactTableStatements(keyspace, options)) await client.execute(statement);
  for (const [table, wanted] of [
    ['events_v2', options.events],
    ['snapshots_v2', options.snapshots],
  ] as const) {
    const row = (await client.execute('SELECT compression FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [keyspace, table], { prepare: true })).first();
    const reported = (row?.['compression'] ?? null) as Record<string, string> | null;
    if (!compressionMatches(reported, wanted)) await client.execute(`ALTER TABLE ${checked(keyspace)}.${table} WITH compression = ${compressionCql(wanted)}`);
  }
}

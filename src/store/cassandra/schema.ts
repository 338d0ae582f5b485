/**
 * Renders cluster/cassandra/schema.cql for the configured keyspace and applies it idempotently,
 * with the compact event tables (compact-tables.ts) in the configured table options.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client } from 'cassandra-driver';
import type { ServiceConfig } from '../../config/types.ts';
import { ensureCompactTables } from './compact-tables.ts';

const SCHEMA_PATH = fileURLToPath(new URL('../../../cluster/cassandra/schema.cql', import.meta.url));

/** The statements of a schema file (default: the service's) for the configured keyspace. */
export function renderSchema(cassandra: ServiceConfig['cassandra'], path: string = SCHEMA_PATH): string[] {
  // The keyspace is checked against ^[A-Za-z][A-Za-z0-9_]{0,47}$ by the config schema and the
  // replication values are an enum and an integer: nothing else reaches this text.
  const { class: strategy, replicationFactor } = cassandra.replication;
  const replication =
    strategy === 'SimpleStrategy'
      ? `{'class': 'SimpleStrategy', 'replication_factor': ${replicationFactor}}`
      : `{'class': 'NetworkTopologyStrategy', '${cassandra.localDataCenter.replaceAll("'", "''")}': ${replicationFactor}}`;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .replaceAll('{{keyspace}}', cassandra.keyspace)
    .replaceAll('{{replication}}', replication)
    .split(';')
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

export async function applySchema(client: Client, cassandra: ServiceConfig['cassandra']): Promise<void> {
  // DDL one statement at a time; the driver waits for schema agreement after each.
  for (const statement of renderSchema(cassandra)) await client.execute(statement);
  await ensureCompactTables(client, cassandra.keyspace, cassandra.tables);
}

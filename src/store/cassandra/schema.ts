/**
 * Renders cluster/cassandra/schema.cql for the configured keyspace and applies it idempotently,
 * with the compact event tables (compact-tables.ts) in the configured table options.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client } from 'cassandra-driver';
import type { ServiceConfig } from '../../config/types.ts';
import { replicasPerDataCenter, replicationProblem } from '../../config/cassandra-replication.ts';
import { ensureCompactTables } from './compact-tables.ts';

const SCHEMA_PATH = fileURLToPath(new URL('../../../cluster/cassandra/schema.cql', import.meta.url));

/** The statements of a schema file (default: the service's) for the configured keyspace. */
export function renderSchema(cassandra: ServiceConfig['cassandra'], path: string = SCHEMA_PATH): string[] {
  // The keyspace is checked against ^[A-Za-z][A-Za-z0-9_]{0,47}$ by the config schema and the
  // replication values are an enum and an integer: nothing else reaches this text.
  const replication = replicationMap(cassandra);
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

/**
 * The keyspace's replication as CQL. NetworkTopologyStrategy names each data center: those of
 * `replication.dataCenters` when given (several data centers), else `localDataCenter` with
 * `replicationFactor`. Data-center names pass the config's pattern and are quoted here as well.
 */
export function replicationMap(cassandra: Pick<ServiceConfig['cassandra'], 'replication' | 'localDataCenter'>): string {
  const { replication, localDataCenter } = cassandra;
  const problem = replicationProblem(replication, localDataCenter, 'service.cassandra');
  if (problem) throw new Error(problem);
  if (replication.class === 'SimpleStrategy') return `{'class': 'SimpleStrategy', 'replication_factor': ${replication.replicationFactor}}`;
  const quoted = replicasPerDataCenter(replication, localDataCenter).map(([name, replicas]) => `'${name.replaceAll("'", "''")}': ${replicas}`);
  return `{'class': 'NetworkTopologyStrategy', ${quoted.join(', ')}}`;
}

export async function applySchema(client: Client, cassandra: ServiceConfig['cassandra']): Promise<void> {
  // DDL one statement at a time; the driver waits for schema agreement after each.
  for (const statement of renderSchema(cassandra)) await client.execute(statement);
  await ensureCompactTables(client, cassandra.keyspace, cassandra.tables);
}

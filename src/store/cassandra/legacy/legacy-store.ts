/**
 * The previous layout's store: the same Cassandra protocol over the `events` / `snapshots`
 * tables, reading and writing rows as the previous release did. For the migration (which reads
 * it) and for tests (which write a keyspace as the previous release would have); never opened
 * by the service.
 */
import { fileURLToPath } from 'node:url';
import type { Client } from 'cassandra-driver';
import { CassandraEventStore, type CassandraSettings } from '../cassandra-event-store.ts';
import { connectToKeyspace, shutdownBounded } from '../connect.ts';
import { renderSchema } from '../schema.ts';
import { LEGACY_LAYOUT } from './legacy-layout.ts';

const LEGACY_SCHEMA_PATH = fileURLToPath(new URL('./schema-v1.cql', import.meta.url));

/** Creates the keyspace and the previous release's tables, as that release did at start. */
export async function applyLegacySchema(client: Client, settings: CassandraSettings): Promise<void> {
  for (const statement of renderSchema(settings, LEGACY_SCHEMA_PATH)) await client.execute(statement);
}

/** Refuses a keyspace without the previous layout's tables (nothing to read there). */
async function requireLegacyTables(client: Client, settings: CassandraSettings): Promise<void> {
  const found = await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [settings.keyspace, 'events'], { prepare: true });
  if (found.rowLength === 0) throw new Error(`keyspace ${settings.keyspace} has no table events: it was never in the previous layout`);
}

/**
 * A previous-layout store with its own connection. `applySchema` (default true): create the
 * previous release's tables as it did (tests writing such a keyspace); false: only read an
 * existing one (the comparison after a migration).
 */
export async function connectLegacyStore(settings: CassandraSettings, options: { applySchema?: boolean } = {}): Promise<CassandraEventStore> {
  const readOnly = options.applySchema === false;
  const client = await connectToKeyspace(settings, { schema: readOnly ? async () => {} : applyLegacySchema, purpose: 'previous-layout store' });
  if (readOnly) {
    try {
      await requireLegacyTables(client, settings);
    } catch (error) {
      await shutdownBounded(client);
      throw error;
    }
  }
  return CassandraEventStore.over(client, settings, LEGACY_LAYOUT, { ownsClient: true });
}

/** A previous-layout store on a connected client (the migration's reader). */
export function legacyStoreOver(client: Client, settings: CassandraSettings): CassandraEventStore {
  return CassandraEventStore.over(client, settings, LEGACY_LAYOUT);
}

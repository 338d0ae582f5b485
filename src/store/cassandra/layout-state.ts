/**
 * Which row layout a keyspace is in, and whether the service may start on it.
 *
 *   - fresh, or only the compact tables: starts (a new keyspace is created in the compact layout);
 *   - the previous layout's `events` table with no rows: starts (nothing to migrate);
 *   - migrated (`layout_migrations` says complete): starts; the old tables stay, unread;
 *   - the previous layout with events and no migration started, or a migration not complete:
 *     refused, with the command to run. Starting there would serve every member as new and
 *     let its history be written over in the other table.
 */
import cassandra, { type Client } from 'cassandra-driver';
import { StoreUnavailableError } from '../../errors/catalog.ts';
import { describeDriverError } from './driver-errors.ts';

/** The migration's name in `layout_migrations`. */
export const COMPACT_MIGRATION = 'compact-rows-v2';

export type LayoutState =
  | { kind: 'compact' }
  | { kind: 'legacy-empty' }
  | { kind: 'migrated'; members: number }
  | { kind: 'legacy-unmigrated' }
  | { kind: 'migration-incomplete'; startedAt: number | null };

/** A keyspace the service must not start on until its migration completes. */
export class MigrationRequiredError extends Error {
  override name = 'MigrationRequiredError';
  constructor(
    readonly keyspace: string,
    readonly state: LayoutState,
  ) {
    const what =
      state.kind === 'migration-incomplete'
        ? `its migration to the compact layout was started${state.startedAt === null ? '' : ` (${new Date(state.startedAt).toISOString()})`} but is not complete`
        : 'it was never migrated to the compact layout (events_v2)';
    super(
      `keyspace ${keyspace} holds events in the previous row layout (table events) and ${what}; ` +
        'stop every service of the previous version, then run `license-accounting --config <your config> migrate` (resumable: run it again after an interruption), ' +
        'check with `license-accounting replay --check --against-legacy`, and start the service again (docs/operations.md#migrating-to-compact-rows)',
    );
  }
}

export async function readLayoutState(client: Client, keyspace: string): Promise<LayoutState> {
  const legacy = await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', [keyspace, 'events'], { prepare: true });
  if (legacy.rowLength === 0) return { kind: 'compact' };
  const migration = (await client.execute(`SELECT state, started_at, members FROM ${keyspace}.layout_migrations WHERE name = ?`, [COMPACT_MIGRATION], { prepare: true })).first();
  if (migration?.['state'] === 'complete') return { kind: 'migrated', members: (migration['members'] as number | null) ?? 0 };
  // Any row at all (a static head counts: it is a member the previous layout knows).
  const anyRow = await client.execute(`SELECT member_id FROM ${keyspace}.events LIMIT 1`, [], { prepare: true });
  if (anyRow.rowLength === 0) return { kind: 'legacy-empty' };
  if (migration) {
    const started: unknown = migration['started_at'];
    return { kind: 'migration-incomplete', startedAt: started instanceof cassandra.types.Long ? started.toNumber() : null };
  }
  return { kind: 'legacy-unmigrated' };
}

/** Throws MigrationRequiredError for a keyspace the service must not start on. */
export async function refuseUnmigratedKeyspace(client: Client, keyspace: string): Promise<void> {
  let state: LayoutState;
  try {
    state = await readLayoutState(client, keyspace);
  } catch (error) {
    throw new StoreUnavailableError(`cannot read the row layout of keyspace ${keyspace}: ${describeDriverError(error)}`, { cause: error });
  }
  if (state.kind === 'legacy-unmigrated' || state.kind === 'migration-incomplete') throw new MigrationRequiredError(keyspace, state);
}

/** Opens the event store the config names. */
import type { ServiceConfig } from '../config/types.ts';
import type { EventStore } from './event-store.ts';
import { SqliteEventStore } from './sqlite/sqlite-event-store.ts';

export interface OpenStoreOptions {
  /**
   * Told of each failure of a store's background work (a tiered store's cold copies, archive
   * runs, sweeps): retried by the store, never lost, but an operator must be able to see them.
   */
  onBackgroundError?: (what: string, memberId: string | null, error: unknown) => void;
}

export async function openEventStore(service: ServiceConfig, options: OpenStoreOptions = {}): Promise<EventStore> {
  switch (service.store) {
    case 'sqlite':
      return new SqliteEventStore(service.sqlite.path);
    case 'cassandra': {
      // Loaded only when used: the driver costs every process and worker thread a noticeable
      // start-up, which a service on SQLite (the default) never needs.
      // Two tiers (docs/storage.md#two-tiers): hot for the real-time path, cold for the archive.
      const { TieredEventStore } = await import('./cassandra/tiers/tiered-event-store.ts');
      return TieredEventStore.connect(service.cassandra, options.onBackgroundError ? { onBackgroundError: options.onBackgroundError } : {});
    }
  }
}

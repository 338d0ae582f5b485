/** Opens the event store the config names. */
import type { ServiceConfig } from '../config/types.ts';
import { CassandraEventStore } from './cassandra/cassandra-event-store.ts';
import type { EventStore } from './event-store.ts';
import { SqliteEventStore } from './sqlite/sqlite-event-store.ts';

export async function openEventStore(service: ServiceConfig): Promise<EventStore> {
  switch (service.store) {
    case 'sqlite':
      return new SqliteEventStore(service.sqlite.path);
    case 'cassandra':
      return CassandraEventStore.connect(service.cassandra);
  }
}

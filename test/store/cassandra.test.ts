/** The store contract suite against a live Cassandra (started by `npm test`, never mocked). */
import t from 'tap';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { eventStoreContract } from './contract.ts';

eventStoreContract(t, {
  open: () => CassandraEventStore.connect(cassandraTestSettings()),
  async reopen(store) {
    await store.close();
    return CassandraEventStore.connect(cassandraTestSettings());
  },
});

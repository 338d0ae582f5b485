/**
 * The local three-node Cassandra (cluster/cassandra/cluster.ts, `cassandra:start -- --nodes 3`)
 * on private loopback addresses and free ports: the three nodes see each other and agree on the
 * schema; the service, with the config overlay config/cassandra-3-nodes.json, creates its
 * keyspaces NetworkTopologyStrategy RF 3; a keyspace with RF 3 accepts LOCAL_QUORUM writes and
 * reads and LOCAL_SERIAL lightweight transactions; status shows every node; stop stops them all.
 */
import t from 'tap';
import { join } from 'node:path';
import { Client, types } from 'cassandra-driver';
import { cassandraClusterStatus, schemaAgreement, startCassandraCluster, stopCassandraCluster } from '../../cluster/cassandra/cluster.ts';
import { CASSANDRA_DIR, freePort, REPO_ROOT } from '../../cluster/cassandra/node.ts';
import { readConfigFile } from '../../src/config/load.ts';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';

const clusterDir = join(CASSANDRA_DIR, '.run-three-nodes-test');
// Not 127.0.0.1-3: the shared test node is on 127.0.0.1, and other suites may use the next ones.
const BASE_ADDRESS = '127.0.0.31';

t.teardown(() => {
  // The driver clients of this file can keep reconnection timers alive; leave once done.
  setTimeout(() => process.exit(), 5000).unref();
});

t.test('three nodes, RF 3, LOCAL_QUORUM and LOCAL_SERIAL', { timeout: 420_000 }, async (t) => {
  await stopCassandraCluster({ clusterDir }); // nodes left over by an interrupted earlier run
  const port = await freePort();
  const storagePort = await freePort();
  const t0 = Date.now();
  const cluster = await startCassandraCluster({ nodes: 3, clusterDir, baseAddress: BASE_ADDRESS, port, storagePort, heapMb: 512, fresh: true, log: (line) => t.comment(line) });
  t.teardown(async () => {
    const stopped = await stopCassandraCluster({ clusterDir });
    t.comment(`stopped ${stopped.filter((s) => s.wasRunning).length} node(s)`);
  });
  t.comment(`three nodes up and agreeing in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const contactPoints = ['127.0.0.31', '127.0.0.32', '127.0.0.33'].map((a) => `${a}:${port}`);
  t.same(cluster.contactPoints, contactPoints);

  const agreement = await schemaAgreement(cluster.nodes);
  for (const node of agreement) {
    t.equal(node.peers, 2, `${node.address} sees the two others`);
    t.equal(node.schemaVersion, cluster.schemaVersion, `${node.address} is on the agreed schema version`);
  }

  // The overlay: what the service runs with in this mode.
  const overlay = readConfigFile(join(REPO_ROOT, 'config', 'cassandra-3-nodes.json')) as { service: { store: string; cassandra: Record<string, unknown> } };
  t.match(overlay.service, {
    store: 'cassandra',
    cassandra: {
      replication: { class: 'NetworkTopologyStrategy', replicationFactor: 3 },
      readConsistency: 'LOCAL_QUORUM',
      writeConsistency: 'LOCAL_QUORUM',
      serialConsistency: 'LOCAL_SERIAL',
    },
  });
  const { replication, readConsistency, writeConsistency, serialConsistency } = overlay.service.cassandra as ReturnType<typeof cassandraTestSettings>;
  const settings = cassandraTestSettings({ contactPoints, keyspace: 'license_three_nodes_test', replication, readConsistency, writeConsistency, serialConsistency });
  const store = await CassandraEventStore.connect(settings);
  await store.close();

  const client = new Client({ contactPoints, localDataCenter: 'datacenter1' });
  t.teardown(() => client.shutdown());
  await client.connect();
  const ks = await client.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', ['license_three_nodes_test']);
  t.same(
    ks.first()?.['replication'],
    { class: 'org.apache.cassandra.locator.NetworkTopologyStrategy', datacenter1: '3' },
    'the service made its keyspace NetworkTopologyStrategy RF 3',
  );

  await client.execute("CREATE KEYSPACE IF NOT EXISTS rf3_test WITH replication = {'class': 'NetworkTopologyStrategy', 'datacenter1': 3}");
  await client.execute('CREATE TABLE IF NOT EXISTS rf3_test.kv (k text PRIMARY KEY, v text)');
  const quorum = { prepare: true, consistency: types.consistencies.localQuorum };
  const lwt = { ...quorum, serialConsistency: types.consistencies.localSerial };
  await client.execute('INSERT INTO rf3_test.kv (k, v) VALUES (?, ?)', ['plain', 'written'], quorum);
  t.equal((await client.execute('SELECT v FROM rf3_test.kv WHERE k = ?', ['plain'], quorum)).first()?.['v'], 'written', 'a LOCAL_QUORUM write is read back at LOCAL_QUORUM');
  const firstLwt = await client.execute('INSERT INTO rf3_test.kv (k, v) VALUES (?, ?) IF NOT EXISTS', ['lwt', 'first'], lwt);
  t.equal(firstLwt.wasApplied(), true, 'the first LOCAL_SERIAL insert applies');
  const secondLwt = await client.execute('INSERT INTO rf3_test.kv (k, v) VALUES (?, ?) IF NOT EXISTS', ['lwt', 'second'], lwt);
  t.equal(secondLwt.wasApplied(), false, 'the second does not');
  const update = await client.execute('UPDATE rf3_test.kv SET v = ? WHERE k = ? IF v = ?', ['updated', 'lwt', 'first'], lwt);
  t.equal(update.wasApplied(), true, 'a conditional update on the current value applies');
  const serialRead = await client.execute('SELECT v FROM rf3_test.kv WHERE k = ?', ['lwt'], { prepare: true, consistency: types.consistencies.localSerial });
  t.equal(serialRead.first()?.['v'], 'updated', 'a LOCAL_SERIAL read sees it');

  const status = await cassandraClusterStatus({ clusterDir });
  t.same(
    status.map((s) => [s.node.name, s.address, s.running, s.answering]),
    [
      ['node1', '127.0.0.31', true, true],
      ['node2', '127.0.0.32', true, true],
      ['node3', '127.0.0.33', true, true],
    ],
  );
  t.ok(
    status.every((s) => s.dataBytes > 0 && s.dataDir === join(clusterDir, s.node.name, 'data')),
    'each node reports its own data folder and its size',
  );
});

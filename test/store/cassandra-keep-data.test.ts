/**
 * `cassandra:start` keeps the node's data, `--fresh` wipes it (issue 15, "Fix on the way"): on a
 * private node (own run folder, free ports, no JMX), a row written before a stop is there after
 * a plain start and gone after a fresh one; start and status say where the data is.
 */
import t from 'tap';
import { join } from 'node:path';
import { Client, types } from 'cassandra-driver';
import { CASSANDRA_DIR, cassandraStatus, freePort, startCassandra, stopCassandra } from '../../cluster/cassandra/node.ts';

const runDir = join(CASSANDRA_DIR, '.run-keep-data-test');
const KEYSPACE = 'keep_data_test';

t.test('a start keeps the data, a fresh start wipes it', { timeout: 300_000 }, async (t) => {
  await stopCassandra({ runDir }); // a node left over by an interrupted earlier run
  const port = await freePort();
  const storagePort = await freePort();
  const node = { runDir, port, storagePort, heapMb: 512, jmxPort: false as const, timeoutMs: 180_000 };
  t.teardown(() => stopCassandra({ runDir }));

  const readRow = async (): Promise<string | undefined> => {
    const client = new Client({ contactPoints: [`127.0.0.1:${port}`], localDataCenter: 'datacenter1', isMetadataSyncEnabled: false });
    try {
      await client.connect();
      const keyspaces = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [KEYSPACE]);
      if (keyspaces.rowLength === 0) return undefined;
      const rs = await client.execute(`SELECT v FROM ${KEYSPACE}.kv WHERE k = 'row'`, [], { consistency: types.consistencies.one });
      return rs.first()?.['v'] as string | undefined;
    } finally {
      await client.shutdown();
    }
  };

  const first = await startCassandra({ ...node, fresh: true });
  t.equal(first.keptData, false, 'a fresh start keeps nothing');
  t.equal(first.dataDir, join(runDir, 'data'));
  const client = new Client({ contactPoints: [`127.0.0.1:${port}`], localDataCenter: 'datacenter1', isMetadataSyncEnabled: false });
  await client.connect();
  await client.execute(`CREATE KEYSPACE ${KEYSPACE} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
  await client.execute(`CREATE TABLE ${KEYSPACE}.kv (k text PRIMARY KEY, v text)`);
  await client.execute(`INSERT INTO ${KEYSPACE}.kv (k, v) VALUES ('row', 'kept')`, [], { consistency: types.consistencies.one });
  await client.shutdown();
  t.equal(await readRow(), 'kept');
  const status = await cassandraStatus({ runDir, timeoutMs: 5000 });
  t.match(status, { running: true, answering: true, dataDir: join(runDir, 'data') });
  t.ok(status.dataBytes > 0, 'status reports the size of the data');

  // A graceful stop, as `npm run cassandra:stop`; the row is only in the commit log or flushed.
  await stopCassandra({ runDir });
  const kept = await startCassandra(node);
  t.equal(kept.keptData, true, 'a plain start reports the data it kept');
  t.equal(await readRow(), 'kept', 'the row written before the stop is there after a plain start');

  await stopCassandra({ runDir });
  const wiped = await startCassandra({ ...node, fresh: true });
  t.equal(wiped.keptData, false);
  t.equal(await readRow(), undefined, 'a fresh start has no keyspace of the earlier run');
});

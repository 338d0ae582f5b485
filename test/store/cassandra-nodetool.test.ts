/**
 * nodetool from the node's own jars (cluster/cassandra/nodetool.ts), against the test Cassandra:
 * a flush makes SSTables that tablestats counts and sizes, a major compaction merges them into
 * one, and a refusal of nodetool is an error with its message. The parser is checked on a
 * document of the shape Cassandra 5.0 prints.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import cassandra from 'cassandra-driver';
import { compact, flush, parseTableStats, tableStats, agentPort } from '../../cluster/cassandra/nodetool.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';

const settings = cassandraTestSettings();
const keyspace = `nodetool_test_${randomUUID().slice(0, 8)}`;
let client: InstanceType<typeof cassandra.Client>;

t.before(async () => {
  client = new cassandra.Client({ contactPoints: settings.contactPoints, localDataCenter: settings.localDataCenter });
  await client.connect();
  await client.execute(`CREATE KEYSPACE ${keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
  await client.execute(`CREATE TABLE ${keyspace}.rows (id int PRIMARY KEY, body text)`);
  await client.execute(`CREATE TABLE ${keyspace}.empty (id int PRIMARY KEY)`);
});
t.teardown(async () => {
  await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
  await client.shutdown();
});

async function insert(from: number, count: number): Promise<void> {
  for (let id = from; id < from + count; id++) await client.execute(`INSERT INTO ${keyspace}.rows (id, body) VALUES (?, ?)`, [id, `row ${id} `.repeat(20)], { prepare: true });
}

t.test('flush, tablestats and a major compaction on the local node', async (t) => {
  await insert(0, 200);
  await flush(keyspace, ['rows']);
  await insert(200, 200);
  await flush(keyspace);
  const before = await tableStats(keyspace);
  const rows = before.find((s) => s.table === 'rows');
  const empty = before.find((s) => s.table === 'empty');
  t.ok(rows && empty, 'every table of the keyspace is listed');
  t.equal(rows?.keyspace, keyspace);
  t.equal(rows?.sstableCount, 2, 'two flushes, two SSTables');
  t.ok((rows?.spaceUsedLive ?? 0) > 0, `space used (live): ${rows?.spaceUsedLive} bytes`);
  t.ok((rows?.compressionRatio ?? 0) > 0 && (rows?.compressionRatio ?? 1) < 1, `repetitive text compresses (ratio ${rows?.compressionRatio})`);
  t.equal(empty?.sstableCount, 0);
  t.equal(empty?.spaceUsedLive, 0);
  t.equal(empty?.compressionRatio, null, 'no SSTable, no ratio');

  await compact(keyspace, ['rows']);
  const [after] = await tableStats(keyspace, ['rows']);
  t.equal(after?.sstableCount, 1, 'the major compaction leaves one SSTable');
  t.ok((after?.spaceUsedLive ?? 0) > 0);
  t.ok((after?.partitions ?? 0) >= 300, `about 400 partitions estimated (${after?.partitions})`);
});

t.test("nodetool's refusals are errors that carry its message", async (t) => {
  await t.rejects(tableStats(`${keyspace}_missing`), /Unknown keyspace/);
  await t.rejects(flush('no such; keyspace'), /not a keyspace or table name/, 'names are checked before anything runs');
});

t.test('parsing: numbers as nodetool prints them, and no ratio without SSTables', async (t) => {
  const doc = {
    total_number_of_tables: 2,
    ks: {
      read_latency_ms: 0,
      tables: {
        events: { space_used_live: '12345', space_used_total: '20000', sstable_count: 1, sstable_compression_ratio: 0.25, number_of_partitions_estimate: 7 },
        snapshots: { space_used_live: '0', space_used_total: '0', sstable_count: 0, sstable_compression_ratio: -1.0, number_of_partitions_estimate: 0 },
      },
    },
  };
  t.same(parseTableStats(`WARNING: a JVM warning first\n${JSON.stringify(doc)}`), [
    { keyspace: 'ks', table: 'events', spaceUsedLive: 12345, spaceUsedTotal: 20000, sstableCount: 1, compressionRatio: 0.25, partitions: 7 },
    { keyspace: 'ks', table: 'snapshots', spaceUsedLive: 0, spaceUsedTotal: 0, sstableCount: 0, compressionRatio: null, partitions: 0 },
  ]);
  t.throws(() => parseTableStats('{"ks": {"tables": {"t": {"space_used_live": "n/a"}}}}'), /ks\.t has no number "space_used_live"/);
  t.equal(agentPort('Agent: disabled\n'), undefined);
  t.equal(agentPort('Agent: enabled\n\nProperties     :\n  com.sun.management.jmxremote.port = 41234\n'), 41234);
});

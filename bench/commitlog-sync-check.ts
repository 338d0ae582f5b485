/**
 * Where a Paxos round's latency goes (bench/RESULTS.md, section "acquire"): the same raw writes, a
 * plain insert and a single-partition conditional batch, 32 in flight, on a private v1 node whose
 * commit log is synced as the local node's (in 5 ms groups: a write is acknowledged once fsynced)
 * or periodically (acknowledged before any fsync, which the service does not accept). If the
 * round's latency is its waits for commit-log syncs, it shrinks with periodic syncing.
 * Run: npx tsx bench/commitlog-sync-check.ts group   then   ... periodic   (about a minute each; prints, writes nothing)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import cassandra from 'cassandra-driver';
import { CASSANDRA_DIR, freePort, renderYaml, startCassandra, stopCassandra } from '../cluster/cassandra/node.ts';

const mode = process.argv[2] === 'periodic' ? 'periodic' : 'group';
const runDir = join(CASSANDRA_DIR, `.run-synccheck-${mode}`);
const port = await freePort();
const storagePort = await freePort();
let yaml = renderYaml(readFileSync(join(CASSANDRA_DIR, 'cassandra.yaml'), 'utf8'), { runDir, port, storagePort, paxosVariant: 'v1' });
if (mode === 'periodic') yaml = yaml.replace('commitlog_sync: group\ncommitlog_sync_group_window: 5ms', 'commitlog_sync: periodic\ncommitlog_sync_period: 10000ms');
// The launcher renders its own template; a later -Dcassandra.config on the command line wins.
const yamlFile = join(mkdtempSync(join(tmpdir(), 'commitlog-sync-')), 'cassandra.yaml');
writeFileSync(yamlFile, yaml);
await stopCassandra({ runDir });
const node = await startCassandra({ runDir, port, storagePort, jmxPort: false, fresh: true, extraJvmArgs: [`-Dcassandra.config=${pathToFileURL(yamlFile).href}`] });
const client = new cassandra.Client({ contactPoints: [node.contactPoint], localDataCenter: 'datacenter1' });
try {
  await client.connect();
  const sync = String((await client.execute("SELECT value FROM system_views.settings WHERE name = 'commitlog_sync'")).first()?.['value'] ?? 'unknown');
  await client.execute("CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await client.execute('CREATE TABLE k.plain (id uuid PRIMARY KEY, p text)');
  await client.execute('CREATE TABLE k.cas (pk text, c int, h int static, p text, PRIMARY KEY (pk, c))');
  const o = { prepare: true, consistency: cassandra.types.consistencies.localQuorum, serialConsistency: cassandra.types.consistencies.localSerial };
  const payload = 'x'.repeat(300);
  const heads = new Array<number>(32).fill(0);
  for (let w = 0; w < 32; w++) await client.execute('INSERT INTO k.cas (pk, h) VALUES (?, 0) IF NOT EXISTS', [`p${w}`], o);
  const ops = {
    plain: async () => void (await client.execute('INSERT INTO k.plain (id, p) VALUES (?, ?)', [cassandra.types.Uuid.random(), payload], o)),
    cas: async (w: number) => {
      const h = heads[w] ?? 0;
      const r = await client.batch(
        [
          { query: 'UPDATE k.cas SET h = ? WHERE pk = ? IF h = ?', params: [h + 1, `p${w}`, h] },
          { query: 'INSERT INTO k.cas (pk, c, p) VALUES (?, ?, ?)', params: [`p${w}`, h + 1, payload] },
        ],
        { ...o, logged: false },
      );
      if (r.first()?.['[applied]'] !== true) throw new Error('not applied');
      heads[w] = h + 1;
    },
  };
  const out: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const [name, op] of Object.entries(ops)) {
      const until = performance.now() + 3000;
      const lat: number[] = [];
      await Promise.all(
        Array.from({ length: 32 }, async (_, w) => {
          while (performance.now() < until) {
            const t = performance.now();
            await op(w);
            lat.push(performance.now() - t);
          }
        }),
      );
      lat.sort((a, b) => a - b);
      if (round > 0) out.push(`${mode} (${sync}) round ${round} ${name}: ${(lat.length / 3).toFixed(0)}/s p50 ${lat[Math.floor(lat.length / 2)]?.toFixed(1)} ms`);
    }
  }
  console.log(out.join('\n'));
} finally {
  await client.shutdown();
  await stopCassandra({ runDir });
  rmSync(runDir, { recursive: true, force: true });
  rmSync(dirname(yamlFile), { recursive: true, force: true });
}

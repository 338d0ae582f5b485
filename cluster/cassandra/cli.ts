/**
 * tsx cluster/cassandra/cli.ts start|stop|status|resolve|jmx-port [options]
 *
 *   start    a node on 127.0.0.1 (its earlier data kept; --fresh wipes it), returns once CQL answers;
 *            --nodes 3: a local cluster on 127.0.0.1-3 (cluster.ts), once all agree on the schema
 *   stop     SIGTERM, SIGKILL after 15 s; fine if not running. The single node and every node of
 *            the cluster folder (--nodes N: the cluster only)
 *   status   each node: running/answering, data folder and size; exit 0 only if every node answers
 *   resolve  only fetch the jars from Maven Central (e.g. a CI warm-up step)
 *   jmx-port prints the node's local JMX port (nodetool.ts: recorded at start, or the JDK agent
 *            turned on in an older node), for CASSANDRA_JMX_PORT where the run folder is not at hand
 *
 * Options: --run-dir DIR  --port N (9042)  --storage-port N (7000)  --fresh (wipe the data first)
 *          --address A (127.0.0.1)  --nodes N (1)  --base-address A (127.0.0.1; node i gets the next ones)
 *          --cluster-dir DIR (cluster/cassandra/.run-cluster)
 *          --heap-mb N (1024)  --timeout-ms N (120000)  --jmx-port N (a free port; 127.0.0.1 only)
 *          --paxos-variant v1|v2 (cassandra.yaml paxos_variant; default DEFAULT_PAXOS_VARIANT in node.ts)
 * Exit codes: 0 ok, 1 failure or usage error (one message on stderr).
 */
import { parseArgs } from 'node:util';
import { cassandraClusterStatus, clusterNodes, DEFAULT_CLUSTER_DIR, startCassandraCluster, stopCassandraCluster } from './cluster.ts';
import { CASSANDRA_VERSION, cassandraStatus, PAXOS_VARIANTS, resolveJars, startCassandra, stopCassandra, type PaxosVariant, type StatusResult } from './node.ts';
import { jmxPortOf } from './nodetool.ts';

const USAGE =
  'usage: tsx cluster/cassandra/cli.ts start|stop|status|resolve|jmx-port ' +
  '[--run-dir DIR] [--port N] [--storage-port N] [--heap-mb N] [--timeout-ms N] [--jmx-port N] [--paxos-variant v1|v2] [--fresh] ' +
  '[--address A] [--nodes N] [--base-address A] [--cluster-dir DIR]';

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function statusLine(label: string, s: StatusResult): string {
  return (
    `${label}running: ${s.running}${s.pid !== undefined ? ` (pid ${s.pid})` : ''}, answering CQL on ${s.address}:${s.port}: ${s.answering}, ` +
    `data in ${s.dataDir} (with commitlog/, hints/ beside it): ${mib(s.dataBytes)}`
  );
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} needs a positive integer, got "${v}"`);
  return n;
}

class UsageError extends Error {}

function paxosVariant(v: string | undefined): PaxosVariant | undefined {
  if (v === undefined) return undefined;
  const variant = PAXOS_VARIANTS.find((known) => known === v);
  if (!variant) throw new UsageError(`--paxos-variant needs one of ${PAXOS_VARIANTS.join(', ')}, got "${v}"`);
  return variant;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'run-dir': { type: 'string' },
      port: { type: 'string' },
      'storage-port': { type: 'string' },
      'heap-mb': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'jmx-port': { type: 'string' },
      'paxos-variant': { type: 'string' },
      fresh: { type: 'boolean', default: false },
      address: { type: 'string' },
      nodes: { type: 'string' },
      'base-address': { type: 'string' },
      'cluster-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals[0];
  if (values.help || positionals.length !== 1 || command === undefined) {
    throw new UsageError(USAGE);
  }
  const runDir = values['run-dir'];
  const port = int('port', values.port);
  const timeoutMs = int('timeout-ms', values['timeout-ms']);
  const nodes = int('nodes', values.nodes) ?? 1;
  const clusterDir = values['cluster-dir'] ?? DEFAULT_CLUSTER_DIR;
  if (nodes > 1 && (values['run-dir'] !== undefined || values.address !== undefined))
    throw new UsageError('--nodes N (N > 1) takes --cluster-dir and --base-address, not --run-dir or --address');

  switch (command) {
    case 'start': {
      if (nodes > 1) {
        const r = await startCassandraCluster({
          nodes,
          clusterDir,
          baseAddress: values['base-address'],
          port,
          storagePort: int('storage-port', values['storage-port']),
          heapMb: int('heap-mb', values['heap-mb']),
          fresh: values.fresh,
          paxosVariant: paxosVariant(values['paxos-variant']),
          nodeTimeoutMs: timeoutMs,
          log: (line) => console.log(line),
        });
        console.log(
          `Cassandra ${CASSANDRA_VERSION}: ${r.nodes.length} nodes up in ${(r.startupMs / 1000).toFixed(1)} s, run folders in ${r.clusterDir}.\n` +
            `Use them with: CASSANDRA_CONTACT_POINTS=${r.contactPoints.join(',')} (config/cassandra-3-nodes.json: RF 3, LOCAL_QUORUM, LOCAL_SERIAL)`,
        );
        return 0;
      }
      const r = await startCassandra({
        runDir,
        address: values.address,
        fresh: values.fresh,
        port,
        storagePort: int('storage-port', values['storage-port']),
        heapMb: int('heap-mb', values['heap-mb']),
        jmxPort: int('jmx-port', values['jmx-port']),
        paxosVariant: paxosVariant(values['paxos-variant']),
        timeoutMs,
      });
      console.log(
        `Cassandra ${CASSANDRA_VERSION} answers CQL on ${r.contactPoint} (pid ${r.pid}, ` +
          `Paxos ${r.paxosVariant}, started in ${(r.startupMs / 1000).toFixed(1)} s, run dir ${r.runDir}${r.jmxPort !== undefined ? `, JMX on 127.0.0.1:${r.jmxPort}` : ''}).\n` +
          (values.fresh
            ? `Data wiped first (--fresh); it lives in ${r.dataDir}.`
            : `Data ${r.keptData ? 'kept from the last run' : '(none yet)'} in ${r.dataDir}; a stop and a start keep it, --fresh wipes it.`),
      );
      return 0;
    }
    case 'stop': {
      const single = nodes > 1 ? [] : [await stopCassandra({ runDir, timeoutMs })];
      const cluster = await stopCassandraCluster({ clusterDir, timeoutMs });
      const stopped = [...single.map((r) => ({ who: 'Cassandra', ...r })), ...cluster.map((r) => ({ who: `Cassandra ${r.node.name} (${r.node.address}:${r.node.port})`, ...r }))];
      for (const { who, ...r } of stopped) {
        console.log(r.wasRunning ? `${who} (pid ${r.pid}) stopped${r.killed ? ' with SIGKILL after the SIGTERM grace period' : ''}.` : `${who} was not running.`);
      }
      return 0;
    }
    case 'status': {
      // The single node unless only a cluster was started here; the cluster's nodes whenever one
      // was (its cluster.json outlives a stop: their data folders are still worth showing).
      const single = nodes > 1 ? undefined : await cassandraStatus({ runDir, address: values.address, port, timeoutMs });
      const withCluster = nodes > 1 || clusterNodes(clusterDir).length > 0;
      const cluster = withCluster ? await cassandraClusterStatus({ clusterDir, timeoutMs }) : [];
      const showSingle = single !== undefined && (single.running || !withCluster);
      if (showSingle) console.log(statusLine(withCluster ? 'single node: ' : '', single));
      for (const s of cluster) console.log(statusLine(`${s.node.name}: `, s));
      if (nodes > 1 && cluster.length === 0) console.log(`no cluster recorded in ${clusterDir}`);
      // Exit 0 when the node shown first answers: the single node, else every node of the cluster.
      return (showSingle ? single.answering : cluster.length > 0 && cluster.every((s) => s.answering)) ? 0 : 1;
    }
    case 'resolve': {
      const t0 = Date.now();
      const lib = await resolveJars();
      console.log(`Cassandra ${CASSANDRA_VERSION} jars in ${lib} (${((Date.now() - t0) / 1000).toFixed(1)} s).`);
      return 0;
    }
    case 'jmx-port': {
      console.log(await jmxPortOf(runDir !== undefined ? { runDir } : {}));
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(err.message);
      process.exitCode = 1;
      return;
    }
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);

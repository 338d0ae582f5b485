/**
 * tsx cluster/cassandra/cli.ts start|stop|status|resolve|jmx-port [options]
 *
 *   start    fresh single node on 127.0.0.1 (data wiped), returns once CQL answers
 *   stop     SIGTERM, SIGKILL after 15 s; fine if not running
 *   status   prints running/answering; exit 0 only if the node answers CQL
 *   resolve  only fetch the jars from Maven Central (e.g. a CI warm-up step)
 *   jmx-port prints the node's local JMX port (nodetool.ts: recorded at start, or the JDK agent
 *            turned on in an older node), for CASSANDRA_JMX_PORT where the run folder is not at hand
 *
 * Options: --run-dir DIR  --port N (9042)  --storage-port N (7000)
 *          --heap-mb N (1024)  --timeout-ms N (120000)  --jmx-port N (a free port; 127.0.0.1 only)
 *          --paxos-variant v1|v2 (cassandra.yaml paxos_variant; default DEFAULT_PAXOS_VARIANT in node.ts)
 * Exit codes: 0 ok, 1 failure or usage error (one message on stderr).
 */
import { parseArgs } from 'node:util';
import { CASSANDRA_VERSION, cassandraStatus, PAXOS_VARIANTS, resolveJars, startCassandra, stopCassandra, type PaxosVariant } from './node.ts';
import { jmxPortOf } from './nodetool.ts';

const USAGE =
  'usage: tsx cluster/cassandra/cli.ts start|stop|status|resolve|jmx-port ' +
  '[--run-dir DIR] [--port N] [--storage-port N] [--heap-mb N] [--timeout-ms N] [--jmx-port N] [--paxos-variant v1|v2]';

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

  switch (command) {
    case 'start': {
      const r = await startCassandra({
        runDir,
        port,
        storagePort: int('storage-port', values['storage-port']),
        heapMb: int('heap-mb', values['heap-mb']),
        jmxPort: int('jmx-port', values['jmx-port']),
        paxosVariant: paxosVariant(values['paxos-variant']),
        timeoutMs,
      });
      console.log(
        `Cassandra ${CASSANDRA_VERSION} answers CQL on ${r.contactPoint} (pid ${r.pid}, ` +
          `Paxos ${r.paxosVariant}, started in ${(r.startupMs / 1000).toFixed(1)} s, run dir ${r.runDir}${r.jmxPort !== undefined ? `, JMX on 127.0.0.1:${r.jmxPort}` : ''}).`,
      );
      return 0;
    }
    case 'stop': {
      const r = await stopCassandra({ runDir, timeoutMs });
      console.log(r.wasRunning ? `Cassandra (pid ${r.pid}) stopped${r.killed ? ' with SIGKILL after the SIGTERM grace period' : ''}.` : 'Cassandra was not running.');
      return 0;
    }
    case 'status': {
      const s = await cassandraStatus({ runDir, port, timeoutMs });
      console.log(`running: ${s.running}${s.pid !== undefined ? ` (pid ${s.pid})` : ''}, ` + `answering CQL on 127.0.0.1:${s.port}: ${s.answering}`);
      return s.answering ? 0 : 1;
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

/**
 * npm run cluster -- --nodes 3 [--base-port 3001] [--config config/cassandra.json] [--verbose]
 *
 * A local cluster in one command: uses the Cassandra at CASSANDRA_CONTACT_POINTS, else at the
 * config's contact points, starting it there when none answers (one node, or with
 * config/cassandra-3-nodes.json a three-node cluster on 127.0.0.1-3); then N service nodes on
 * loopback that form one ring, prints their addresses, the admin token and a config that carries
 * those contact points, and stops everything it started on Ctrl-C.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cassandraContactPointsFrom, readConfigFile } from '../src/config/load.ts';
import { nthAddress, startCassandraCluster, stopCassandraCluster } from './cassandra/cluster.ts';
import { isAnswering, REPO_ROOT, startCassandra, stopCassandra } from './cassandra/node.ts';
import { launchCluster } from './launcher.ts';

interface ContactPoint {
  host: string;
  port: number;
}

function parsePoint(point: string): ContactPoint {
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(point);
  if (!m?.[1]) throw new Error(`contact point "${point}" is not host[:port]`);
  return { host: m[1], port: Number(m[2] ?? 9042) };
}

/** The config file's contact points (its `extends` chain resolved), 127.0.0.1:9042 if it has none. */
function configuredContactPoints(configPath: string): string[] {
  const config = readConfigFile(configPath) as { service?: { cassandra?: { contactPoints?: unknown } } };
  const points = config.service?.cassandra?.contactPoints;
  return Array.isArray(points) && points.every((p) => typeof p === 'string') && points.length > 0 ? points : ['127.0.0.1:9042'];
}

/** True if the points are consecutive loopback addresses on one port: a cluster cluster.ts can start. */
function startable(points: ContactPoint[]): boolean {
  const first = points[0];
  if (!first) return false;
  try {
    return points.every((p, i) => p.port === first.port && p.host === nthAddress(first.host, i));
  } catch {
    return false;
  }
}

/** What this process started, so that a failed launch stops it too. */
let startedCassandra: 'node' | 'cluster' | undefined;

async function stopStartedCassandra(): Promise<void> {
  if (startedCassandra === 'node') await stopCassandra({});
  if (startedCassandra === 'cluster') await stopCassandraCluster({});
  startedCassandra = undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      'base-port': { type: 'string', default: '3001' },
      config: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const nodes = Number(values.nodes);
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) throw new Error(`--nodes must be an integer from 1 to 16, got "${values.nodes}"`);
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort + nodes > 65535) throw new Error(`--base-port must be a port from 1024, got "${values['base-port']}"`);

  const configPath = path.resolve(values.config ?? path.join(REPO_ROOT, 'config', 'cassandra.json'));
  const fromEnv = cassandraContactPointsFrom(process.env);
  const contactPoints = fromEnv ?? configuredContactPoints(configPath);
  const points = contactPoints.map(parsePoint);
  if (
    !(await isAnswering(
      points.map((p) => p.host),
      points[0]?.port ?? 9042,
      2000,
    ))
  ) {
    if (fromEnv) throw new Error(`CASSANDRA_CONTACT_POINTS=${fromEnv.join(',')} does not answer CQL`);
    if (!startable(points)) throw new Error(`no Cassandra answers at ${contactPoints.join(', ')}, and they are not consecutive loopback addresses on one port: start it first`);
    const first = points[0] ?? { host: '127.0.0.1', port: 9042 };
    process.stdout.write(`starting Cassandra on ${contactPoints.join(', ')} (its data kept from an earlier run; a first run downloads its jars from Maven Central)...\n`);
    if (points.length === 1) {
      await startCassandra({ address: first.host, port: first.port });
      startedCassandra = 'node';
    } else {
      await startCassandraCluster({ nodes: points.length, baseAddress: first.host, port: first.port, log: (line) => process.stdout.write(`  ${line}\n`) });
      startedCassandra = 'cluster';
    }
  }
  // The written config carries the contact points in use, so a node started by hand with it
  // (docs/cluster.md, "a fourth node, by hand") reaches the same Cassandra.
  const cluster = await launchCluster({ nodes, basePort, configPath, service: { cassandra: { contactPoints } }, echo: values.verbose });
  process.stdout.write(
    [
      `cluster ${cluster.clusterId}: ${nodes} node(s) on loopback`,
      ...cluster.nodes.map((node) => `  ${node.id}  ${node.url}`),
      `admin token: ${cluster.adminToken}`,
      `config: ${cluster.configPath}   (start more nodes with it: --config <it> --node-id <id> --join ${cluster.nodes[0]?.url})`,
      `  curl -H "authorization: Bearer ${cluster.adminToken}" ${cluster.nodes[0]?.url}/v1/admin/cluster`,
      `cassandra: ${contactPoints.join(', ')}`,
      'Ctrl-C stops every node' + (startedCassandra ? ' and Cassandra' : ''),
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping the nodes...\n');
    await cluster.stop();
    await stopStartedCassandra();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // A node that dies on its own is reported; the others keep running (that is a failure test).
  for (const node of cluster.nodes) void node.exited.then((code) => !stopping && process.stdout.write(`${node.id} exited (${code})\n`));
}

main().catch(async (error: unknown) => {
  process.stderr.write(`cluster: ${error instanceof Error ? error.message : String(error)}\n`);
  await stopStartedCassandra().catch(() => undefined);
  process.exit(1);
});

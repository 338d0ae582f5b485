/**
 * npm run cluster -- --nodes 3 [--base-port 3001] [--config config/cassandra.json] [--verbose]
 *
 * A local cluster in one command: starts Cassandra (unless one answers on 127.0.0.1:9042, or
 * CASSANDRA_CONTACT_POINTS names one), then N service nodes on loopback that form one ring,
 * prints their addresses and the admin token, and stops everything it started on Ctrl-C.
 */
import { parseArgs } from 'node:util';
import { isAnswering, startCassandra, stopCassandra } from './cassandra/node.ts';
import { launchCluster } from './launcher.ts';

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

  let startedCassandra = false;
  if (!process.env['CASSANDRA_CONTACT_POINTS'] && !(await isAnswering(['127.0.0.1'], 9042, 2000))) {
    process.stdout.write('starting Cassandra (first run downloads its jars from Maven Central)...\n');
    await startCassandra({});
    startedCassandra = true;
  }
  const cluster = await launchCluster({ nodes, basePort, ...(values.config ? { configPath: values.config } : {}), echo: values.verbose });
  process.stdout.write(
    [
      `cluster ${cluster.clusterId}: ${nodes} node(s) on loopback`,
      ...cluster.nodes.map((node) => `  ${node.id}  ${node.url}`),
      `admin token: ${cluster.adminToken}`,
      `config: ${cluster.configPath}   (start more nodes with it: --config <it> --node-id <id> --join ${cluster.nodes[0]?.url})`,
      `  curl -H "authorization: Bearer ${cluster.adminToken}" ${cluster.nodes[0]?.url}/v1/admin/cluster`,
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
    if (startedCassandra) await stopCassandra({});
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // A node that dies on its own is reported; the others keep running (that is a failure test).
  for (const node of cluster.nodes) void node.exited.then((code) => !stopping && process.stdout.write(`${node.id} exited (${code})\n`));
}

main().catch((error: unknown) => {
  process.stderr.write(`cluster: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

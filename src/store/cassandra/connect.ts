/**
 * One way to reach the configured Cassandra keyspace, for the event store and the cluster
 * membership alike: connect, apply the schema (idempotent), use the keyspace. An unreachable
 * cluster is a StoreUnavailableError naming the contact points, not a retry loop.
 */
import cassandra from 'cassandra-driver';
import type { ServiceConfig } from '../../config/types.ts';
import { StoreUnavailableError } from '../../errors/catalog.ts';
import { describeDriverError } from './driver-errors.ts';
import { applySchema } from './schema.ts';

const { Client } = cassandra;
type Client = InstanceType<typeof Client>;

export async function connectToKeyspace(
  settings: ServiceConfig['cassandra'],
  options: { requestTracker?: cassandra.tracker.RequestTracker; purpose?: string; schema?: (client: Client, settings: ServiceConfig['cassandra']) => Promise<void> } = {},
): Promise<Client> {
  const client = new Client({
    ...(options.requestTracker ? { requestTracker: options.requestTracker } : {}),
    contactPoints: settings.contactPoints,
    localDataCenter: settings.localDataCenter,
    socketOptions: { connectTimeout: Math.min(settings.requestTimeoutMs, 5000), readTimeout: settings.requestTimeoutMs },
    ...discoveredHostsPort(settings.contactPoints),
    policies: { reconnection: new cassandra.policies.reconnection.ExponentialReconnectionPolicy(250, 5000, false) },
  });
  try {
    await client.connect();
    await (options.schema ?? applySchema)(client, settings);
    await client.execute(`USE ${settings.keyspace}`);
  } catch (error) {
    await client.shutdown().catch(() => {});
    throw new StoreUnavailableError(
      `${options.purpose ? `${options.purpose}: ` : ''}cannot reach Cassandra at ${settings.contactPoints.join(', ')} (data center ${settings.localDataCenter}): ${describeDriverError(error)}`,
      { cause: error },
    );
  }
  return client;
}

/**
 * The driver learns the cluster's other hosts from system.peers, which carries no port: it gives
 * each the port of `protocolOptions` (9042 unless set), whatever port the contact points name. On a
 * cluster listening elsewhere every discovered host was then unreachable and marked down, and the
 * service used the one node it first connected to for every request, so losing that node stopped
 * the service whatever the replication factor. The contact points' port, when they all name the
 * same one, is the port of every host (each node of a cluster listens on the same native port).
 */
export function discoveredHostsPort(contactPoints: readonly string[]): { protocolOptions?: { port: number } } {
  const ports = new Set(contactPoints.map((point) => /^(?:\[[^\]]+\]|[^:]+):(\d+)$/.exec(point)?.[1]));
  const [port] = ports;
  return ports.size === 1 && port !== undefined ? { protocolOptions: { port: Number(port) } } : {};
}

/**
 * Shuts a client down, bounded: with the cluster gone, the driver's shutdown can wait on
 * reconnection attempts, and a process that is shutting down must not hang on it.
 */
export async function shutdownBounded(client: Client, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.shutdown(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs).unref()))]);
  clearTimeout(timer);
}

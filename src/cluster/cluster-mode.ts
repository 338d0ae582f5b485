/**
 * A node's cluster mode, opened by the composition root: the membership store (Cassandra's, next
 * to the events and their fences), the HTTP client to the other nodes, this node's ClusterNode
 * over the node's actors, and the fastify plugins that put forwarding and the cluster routes in
 * the node's HTTP app. The node joins when the app listens (ClusterNode.start).
 */
import type { ClusterConfig, ServiceConfig } from '../config/types.ts';
import type { AppPlugins } from '../http/app.ts';
import type { Logger } from '../service/logger.ts';
import { ClusterNode, type LocalActors } from './cluster-node.ts';
import { clusterHttpPlugins } from './http-plugins.ts';
import type { MembershipStore } from './membership-store.ts';
import { Peers } from './peers.ts';

export interface ClusterMode {
  node: ClusterNode;
  /** What cluster mode adds to the node's HTTP app. */
  plugins: AppPlugins;
  /** Hands this node's members off while it can still forward (bounded), then stops following. */
  leave(): Promise<void>;
  /** Closes the connections to the other nodes and to the membership store; after the actors stopped. */
  close(): Promise<void>;
}

export interface ClusterModeOptions {
  settings: ClusterConfig;
  /** The admin token: the nodes authenticate each other with it. */
  token: string;
  cassandra: ServiceConfig['cassandra'];
  actors: LocalActors;
  log: Logger;
  /** A membership store to use instead of Cassandra's (the OpenAPI generator, tests). */
  membership?: MembershipStore | undefined;
}

const LEAVE_TIMEOUT_MS = 10_000;

export async function openClusterMode(options: ClusterModeOptions): Promise<ClusterMode> {
  const { settings, token } = options;
  // The driver is loaded only in cluster mode with no membership given (see open-store.ts).
  const membership = options.membership ?? (await (await import('./membership-store.ts')).CassandraMembershipStore.connect(options.cassandra));
  const peers = new Peers(token, settings.forwardConnections);
  const node = new ClusterNode({ settings, store: membership, actors: options.actors, peers, log: options.log });
  return {
    node,
    plugins: clusterHttpPlugins({ node, peers, token, timeoutMs: settings.forwardTimeoutMs, store: membership, vnodes: settings.vnodes }),
    async leave() {
      await node.leave(LEAVE_TIMEOUT_MS);
      await node.close();
    },
    async close() {
      await peers.close();
      await membership.close();
    },
  };
}

/**
 * The cluster's part of a node's HTTP app, as the fastify plugins that the composition root
 * (src/server.ts) hands to buildApp: forwarding on every member route, the cluster admin and
 * node-to-node routes behind the admin token, and the rate limit's exemption for requests
 * another node already counted. The HTTP layer knows none of this.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { AppPlugins } from '../http/app.ts';
import { clusterRoutes, type ClusterRouteDeps } from './cluster-routes.ts';
import { installForwarding, peerForwardedChecker, type ForwardingDeps } from './forwarding.ts';

export function clusterHttpPlugins(deps: ForwardingDeps & ClusterRouteDeps): AppPlugins {
  const forwarding: FastifyPluginAsync = async (app) => installForwarding(app, deps);
  // Its hooks belong to the whole app, not to a scope of its own: fastify's documented
  // skip-override property (what fastify-plugin sets).
  Object.assign(forwarding, { [Symbol.for('skip-override')]: true });
  return {
    routing: forwarding,
    admin: async (scope) => clusterRoutes(scope, deps),
    rateLimitExempt: peerForwardedChecker(deps.token),
  };
}

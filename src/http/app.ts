/**
 * Builds the HTTP application apart from listen(), so tests drive it with inject().
 * Two fastify defaults are changed on purpose: the validator does not coerce types (a number
 * 5 is not the id "5"), and the router accepts long path parameters so that a valid 128
 * character id reaches validation (find-my-way would answer 404 past 100 characters).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Clock } from '../service/clock.ts';
import { registerProtected } from './admin-auth.ts';
import { installDocs } from './docs.ts';
import { installMemberRateLimit, type RateLimitSettings } from './rate-limit.ts';
import { adminRoutes, type AdminDependencies } from './routes/admin-routes.ts';
import { answerFrameworkError, installErrorHandling } from './error-handler.ts';
import type { LicensePort } from './license-port.ts';
import { deviceRoutes } from './routes/device-routes.ts';
import { healthRoutes, type Readiness } from './routes/health-routes.ts';
import { licenseRoutes } from './routes/license-routes.ts';
import { queryRoutes } from './routes/query-routes.ts';
import { debugRoutes, type DebugDependencies } from './routes/debug-routes.ts';
import { installForwarding, peerForwardedChecker, type ForwardingDeps } from '../cluster/forwarding.ts';
import { clusterRoutes, type ClusterRouteDeps } from '../cluster/cluster-routes.ts';
import { installHttpMetrics, metricsRoutes, type MetricsSource } from './routes/metrics-routes.ts';

export interface AppDependencies {
  service: LicensePort;
  clock: Clock;
  readiness: Readiness;
  bodyLimitBytes: number;
  logger?: FastifyServerOptions['logger'];
  /** The debug API (/v1/debug/...): reads the event store directly. Absent: no debug routes. */
  debug?: DebugDependencies;
  /** Prometheus metrics: GET /metrics and per-route request counts (absent in some tests). */
  metrics?: MetricsSource;
  /**
   * The admin API and the token every admin and debug route requires. Absent, or a null token:
   * no admin or debug route exists (404), never an open one.
   */
  admin?: AdminDependencies & { token: string | null };
  /**
   * Which routes this instance serves: 'all' (default: edge, admin and debug on one port),
   * 'edge' (admin and debug are on their own port), 'admin' (that port: admin and debug only).
   */
  surface?: 'all' | 'edge' | 'admin';
  /** Per-member rate limit on /v1/members routes (absent or null: none). */
  rateLimit?: RateLimitSettings | null;
  /** Cluster mode: forwarding to the owner of each member, and the cluster admin routes. */
  cluster?: (ForwardingDeps & ClusterRouteDeps) | null;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is a sane id (it goes into logs and the store), else a fresh UUID. */
export function requestIdOf(request: IncomingMessage): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

export function buildApp(deps: AppDependencies): FastifyInstance {
  const app = Fastify({
    // The request id follows the request into the worker and onto the stored events: take the
    // caller's X-Request-Id when it is a sane id, mint a UUID otherwise, and echo it back.
    genReqId: requestIdOf,
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimitBytes,
    routerOptions: { maxParamLength: 2048 },
    frameworkErrors: answerFrameworkError,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
  installErrorHandling(app);
  // Bodies are JSON only: fastify's default text/plain parser would turn a text body into a
  // string and answer 400 "body must be object" where 415 is the truth.
  app.removeContentTypeParser('text/plain');
  // Renew, release and deactivate take an optional body: a POST without one is an empty object.
  app.addHook('preValidation', async (request) => {
    if (request.method === 'POST' && request.body === undefined) request.body = {};
  });
  installDocs(app); // before any route: it collects the routes as they are declared
  const surface = deps.surface ?? 'all';
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  if (deps.metrics) {
    installHttpMetrics(app, deps.metrics.edge);
    // With a separate admin port, /metrics lives there, off the edge.
    if (surface !== 'edge') metricsRoutes(app, deps.metrics);
  }
  // Forwarding applies to member routes on every surface (snapshot-now is an admin route).
  if (deps.cluster) installForwarding(app, deps.cluster);
  if (surface === 'admin') return protectedRoutes(app, deps);
  installMemberRateLimit(app, deps.rateLimit ?? null, deps.cluster ? peerForwardedChecker(deps.cluster.token) : undefined);
  healthRoutes(app, deps.readiness);
  licenseRoutes(app, deps.service);
  deviceRoutes(app, deps.service);
  queryRoutes(app, deps.service, () => deps.clock.now());
  if (surface === 'all') protectedRoutes(app, deps);
  return app;
}

/** The admin and debug routes, all behind the admin token (see admin-auth.ts). */
function protectedRoutes(app: FastifyInstance, deps: AppDependencies): FastifyInstance {
  registerProtected(app, deps.admin?.token ?? null, (scope) => {
    if (deps.admin) adminRoutes(scope, deps.admin);
    // Debug routes: registered here so that they share the admin scope and its token.
    if (deps.debug) debugRoutes(scope, deps.debug);
    if (deps.cluster) clusterRoutes(scope, deps.cluster);
  });
  return app;
}

/**
 * Builds the HTTP application apart from listen(), so tests drive it with inject().
 * Two fastify defaults are changed on purpose: the validator does not coerce types (a number
 * 5 is not the id "5"), and the router accepts long path parameters so that a valid 128
 * character id reaches validation (find-my-way would answer 404 past 100 characters).
 * The Node server under it is http-server.ts's: its limits, and the catalog answers for requests
 * that never reach a route.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { HttpConfig } from '../config/types.ts';
import { isId } from '../domain/ids.ts';
import type { Clock } from '../service/clock.ts';
import { registerProtected } from './admin-auth.ts';
import { docsPage, installDocs, isProtectedUrl } from './docs.ts';
import { clientErrorHandler, httpServerFactory } from './http-server.ts';
import { installMemberRateLimit, type RateLimitSettings } from './rate-limit.ts';
import { adminRoutes, type AdminDependencies } from './routes/admin-routes.ts';
import { answerFrameworkError, installErrorHandling } from './error-handler.ts';
import type { LicensePort } from '../service/license-port.ts';
import { deviceRoutes } from './routes/device-routes.ts';
import { healthRoutes, type Readiness } from './routes/health-routes.ts';
import { licenseRoutes } from './routes/license-routes.ts';
import { queryRoutes } from './routes/query-routes.ts';
import { debugRoutes, type DebugDependencies } from './routes/debug-routes.ts';
import { dashboardPlugin } from '../dashboard/dashboard-plugin.ts';
import { historyRoutes } from '../dashboard/history-routes.ts';
import type { MetricsHistory } from '../dashboard/metrics-history.ts';
import { installHttpMetrics, metricsRoutes, type MetricsSource } from './routes/metrics-routes.ts';

export interface AppDependencies {
  service: LicensePort;
  clock: Clock;
  readiness: Readiness;
  bodyLimitBytes: number;
  /** The server's limits, and where /docs and /metrics are served (`service.http`). */
  http: HttpConfig;
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
  /** What the deployment adds without this layer knowing it (cluster mode: src/cluster/http-plugins.ts). */
  plugins?: AppPlugins;
  /**
   * The operator's dashboard (src/dashboard/): its pages at /dashboard/ where the admin routes
   * are (a refusal page without a token), and `history` behind the token. Absent: no dashboard.
   */
  dashboard?: { history: MetricsHistory | null };
}

/**
 * Fastify plugins the composition root hands in. Each is registered where its effect must
 * start: `routing` before the protected scope exists, so its hooks reach every route (it must
 * not be encapsulated: set skip-override, as fastify-plugin does); `admin` inside the token's
 * scope, after the admin and debug routes.
 */
export interface AppPlugins {
  /** Hooks on every route of every surface (cluster: forwarding a member's requests to its owner). */
  routing?: FastifyPluginAsync;
  /** Routes behind the admin token (cluster: the membership admin API and the node-to-node calls). */
  admin?: FastifyPluginAsync;
  /** Requests already counted elsewhere, exempt from the member rate limit (cluster: forwarded by a node). */
  rateLimitExempt?: (request: FastifyRequest) => boolean;
}

/** The caller's X-Request-Id when it is a sane id (it goes into logs and the store), else a fresh UUID. */
export function requestIdOf(request: IncomingMessage): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && isId(header) ? header : randomUUID();
}

export function buildApp(deps: AppDependencies): FastifyInstance {
  // The server is made inside Fastify(), before `app` exists: its log is looked up when used.
  const log = () => app.log;
  const app: FastifyInstance = Fastify({
    // The request id follows the request into the worker and onto the stored events: take the
    // caller's X-Request-Id when it is a sane id, mint a UUID otherwise, and echo it back.
    genReqId: requestIdOf,
    logger: deps.logger ?? false,
    bodyLimit: deps.bodyLimitBytes,
    routerOptions: { maxParamLength: 2048 },
    frameworkErrors: answerFrameworkError,
    serverFactory: httpServerFactory(deps.http, log),
    clientErrorHandler: clientErrorHandler(deps.http, log),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  });
  const token = deps.admin?.token ?? null;
  installErrorHandling(app, token === null ? [] : [token]);
  // Bodies are JSON only: fastify's default text/plain parser would turn a text body into a
  // string and answer 400 "body must be object" where 415 is the truth.
  app.removeContentTypeParser('text/plain');
  // Renew, release and deactivate take an optional body: a POST without one is an empty object.
  // The app's hooks are synchronous where nothing waits: an async hook costs every request a promise.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.method === 'POST' && request.body === undefined) request.body = {};
    done();
  });
  const metricsBehindToken = deps.http.metrics === 'admin';
  // Before any route: it collects the routes as they are declared.
  installDocs(app, (url) => isProtectedUrl(url) || (metricsBehindToken && url === '/metrics'));
  // Registered plugins load in this order once buildApp returns. The routing plugin's hooks go on
  // the app itself, so it comes first: every scope made after it inherits them. Forwarding
  // applies to member routes on every surface (snapshot-now is an admin route).
  if (deps.plugins?.routing) void app.register(deps.plugins.routing);
  // Public: on each port, describing the routes that port serves. 'admin': see protectedRoutes.
  if (deps.http.docs === 'public') void app.register(docsPage);
  const surface = deps.surface ?? 'all';
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });
  if (deps.metrics) {
    installHttpMetrics(app, deps.metrics.edge);
    // With a separate admin port, /metrics lives there, off the edge. 'admin': see protectedRoutes.
    if (surface !== 'edge' && deps.http.metrics === 'public') metricsRoutes(app, deps.metrics);
  }
  // Where the admin routes are: its data comes from them (and without a token it says so).
  if (deps.dashboard && surface !== 'edge') void app.register(dashboardPlugin, { token });
  if (surface === 'admin') return protectedRoutes(app, deps);
  installMemberRateLimit(app, deps.rateLimit ?? null, deps.plugins?.rateLimitExempt);
  healthRoutes(app, deps.readiness);
  licenseRoutes(app, deps.service);
  deviceRoutes(app, deps.service);
  queryRoutes(app, deps.service, () => deps.clock.now());
  if (surface === 'all') protectedRoutes(app, deps);
  return app;
}

/**
 * The admin and debug routes, all behind the admin token (see admin-auth.ts), and /docs and
 * /metrics when `service.http` puts them there. No token: none of them exists.
 */
function protectedRoutes(app: FastifyInstance, deps: AppDependencies): FastifyInstance {
  registerProtected(app, deps.admin?.token ?? null, async (scope) => {
    if (deps.admin) adminRoutes(scope, deps.admin);
    // Debug routes: registered here so that they share the admin scope and its token.
    if (deps.debug) debugRoutes(scope, deps.debug);
    if (deps.dashboard?.history) historyRoutes(scope, deps.dashboard.history);
    // Awaited: registered in its place, before the routes below (the OpenAPI document keeps this order).
    if (deps.plugins?.admin) await scope.register(deps.plugins.admin);
    if (deps.metrics && deps.http.metrics === 'admin') metricsRoutes(scope, deps.metrics);
    if (deps.http.docs === 'admin') await docsPage(scope);
  });
  return app;
}

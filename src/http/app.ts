/**
 * Builds the HTTP application apart from listen(), so tests drive it with inject().
 * Two fastify defaults are changed on purpose: the validator does not coerce types (a number
 * 5 is not the id "5"), and the router accepts long path parameters so that a valid 128
 * character id reaches validation (find-my-way would answer 404 past 100 characters).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ManualClock, type Clock } from '../service/clock.ts';
import { answerFrameworkError, installErrorHandling } from './error-handler.ts';
import type { LicensePort } from './license-port.ts';
import { adminClockRoutes } from './routes/admin-clock-routes.ts';
import { deviceRoutes } from './routes/device-routes.ts';
import { healthRoutes, type Readiness } from './routes/health-routes.ts';
import { licenseRoutes } from './routes/license-routes.ts';
import { queryRoutes } from './routes/query-routes.ts';

export interface AppDependencies {
  service: LicensePort;
  clock: Clock;
  readiness: Readiness;
  bodyLimitBytes: number;
  logger?: FastifyServerOptions['logger'];
}

export function buildApp(deps: AppDependencies): FastifyInstance {
  const app = Fastify({
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
  healthRoutes(app, deps.readiness);
  licenseRoutes(app, deps.service);
  deviceRoutes(app, deps.service);
  queryRoutes(app, deps.service, () => deps.clock.now());
  if (deps.clock instanceof ManualClock) adminClockRoutes(app, deps.clock);
  return app;
}

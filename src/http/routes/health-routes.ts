/** Liveness (the process answers) and readiness (it can take traffic: store open, not draining). */
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../error-handler.ts';

export interface Readiness {
  ready(): boolean;
  describe(): Record<string, unknown>;
}

export function healthRoutes(app: FastifyInstance, readiness: Readiness): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (!readiness.ready()) return reply.status(503).send(errorBody('NOT_READY', 'the service is starting or shutting down'));
    return { status: 'ready', ...readiness.describe() };
  });
}

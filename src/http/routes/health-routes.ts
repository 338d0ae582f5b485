/** Liveness (the process answers) and readiness (it can take traffic: store open, not draining). */
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../error-handler.ts';
import { errorAnswers } from '../schemas.ts';

const healthy = { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } as const;
// What describe() adds (store, rules version, workers, cluster node) is kept as it is.
const ready = { type: 'object', additionalProperties: true, required: ['status'], properties: { status: { type: 'string', enum: ['ready'] } } } as const;

export interface Readiness {
  ready(): boolean;
  describe(): Record<string, unknown>;
}

export function healthRoutes(app: FastifyInstance, readiness: Readiness): void {
  app.get('/healthz', { schema: { summary: 'Liveness: the process answers', response: { 200: healthy, ...errorAnswers() } } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { summary: 'Readiness: the service takes traffic', response: { 200: ready, ...errorAnswers('NOT_READY') } } }, async (_request, reply) => {
    if (!readiness.ready()) return reply.status(503).send(errorBody('NOT_READY', 'the service is starting or shutting down'));
    return { status: 'ready', ...readiness.describe() };
  });
}

/**
 * GET /metrics (Prometheus text format) and the HTTP request metrics behind it. The route is
 * not token-protected, as scrapers expect; put it on the admin port to keep it off the edge.
 */
import type { FastifyInstance } from 'fastify';
import type { EdgeMetrics } from '../../observability/metrics.ts';
import { errorAnswers } from '../schemas.ts';

export interface MetricsSource {
  edge: EdgeMetrics;
  /** The exposition text of every thread's metrics. */
  exposition(): Promise<{ contentType: string; text: string }>;
}

/** Counts and times every request of `app` by its route pattern (never the raw URL: ids would explode the label set). */
export function installHttpMetrics(app: FastifyInstance, metrics: EdgeMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.requestSeconds.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
}

const exposition = { description: 'The Prometheus text exposition of every thread', content: { 'text/plain': { schema: { type: 'string' } } } } as const;

export function metricsRoutes(app: FastifyInstance, source: MetricsSource): void {
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', response: { 200: exposition, ...errorAnswers() } } }, async (_request, reply) => {
    const { contentType, text } = await source.exposition();
    return reply.type(contentType).send(text);
  });
}

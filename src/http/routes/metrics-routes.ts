/**
 * GET /metrics (Prometheus text format) and the HTTP request metrics behind it. The route is
 * not token-protected, as scrapers expect; put it on the admin port to keep it off the edge.
 */
import type { FastifyInstance } from 'fastify';
import { RouteSeries, type EdgeMetrics } from '../../observability/metrics.ts';
import { addRouteHook } from '../route-hooks.ts';
import { errorAnswers } from '../schemas.ts';

export interface MetricsSource {
  edge: EdgeMetrics;
  /** The exposition text of every thread's metrics. */
  exposition(): Promise<{ contentType: string; text: string }>;
}

/**
 * Counts and times every request of `app` by its route pattern (never the raw URL: ids would
 * explode the label set). Each route counts its own answers with a hook given to it as it is
 * declared (call this before declaring routes); the app's hook counts only what no route
 * matched (`request.is404`: fastify's not-found and bad-URL answers), as "unmatched".
 * Synchronous hooks: nothing here waits.
 */
export function installHttpMetrics(app: FastifyInstance, metrics: EdgeMetrics): void {
  app.addHook('onRoute', (route) => {
    if (route.url === undefined) return;
    const series = new RouteSeries(metrics, route.url);
    addRouteHook(route, 'onResponse', (request, reply, done) => {
      series.record(request.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  });
  const unmatched = new RouteSeries(metrics, 'unmatched');
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched.record(request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}

const exposition = { description: 'The Prometheus text exposition of every thread', content: { 'text/plain': { schema: { type: 'string' } } } } as const;

export function metricsRoutes(app: FastifyInstance, source: MetricsSource): void {
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', response: { 200: exposition, ...errorAnswers() } } }, async (_request, reply) => {
    const { contentType, text } = await source.exposition();
    return reply.type(contentType).send(text);
  });
}

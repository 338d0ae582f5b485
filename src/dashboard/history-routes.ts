/**
 * GET /v1/admin/metrics/history (behind the admin token): the dashboard's charts over the last
 * minutes, from the in-process history (metrics-history.ts). Requests per second and p99 per
 * operation, members in memory and mailbox depth per worker, one point per sampling interval.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../errors/catalog.ts';
import { errorAnswers } from '../http/schemas.ts';
import { HISTORY_MIN_SECONDS as MIN_SECONDS, type MetricsHistory } from './metrics-history.ts';

export const HISTORY_DEFAULT_SECONDS = 300;

const historyAnswer = {
  type: 'object',
  required: ['intervalMs', 'windowSeconds', 'points', 'totals'],
  properties: {
    totals: {
      type: ['object', 'null'],
      description: 'counts since this node started, at the latest reading (null before the first)',
      required: ['at', 'snapshotsTaken', 'storeOperations'],
      properties: {
        at: { type: 'string', format: 'date-time' },
        snapshotsTaken: { type: 'number' },
        storeOperations: {
          type: 'array',
          description: 'event store operations completed (appends, reads, snapshot writes...), over every worker',
          items: { type: 'object', required: ['operation', 'count'], properties: { operation: { type: 'string' }, count: { type: 'number' } } },
        },
      },
    },
    intervalMs: { type: 'integer', description: 'time between two readings' },
    windowSeconds: { type: 'integer', description: 'the longest window kept (`seconds` may not exceed it)' },
    points: {
      type: 'array',
      description: 'oldest first; one per interval (a point compares a reading with the one before it)',
      items: {
        type: 'object',
        required: ['at', 'operations', 'workers'],
        properties: {
          at: { type: 'string', format: 'date-time' },
          operations: {
            type: 'array',
            items: {
              type: 'object',
              required: ['operation', 'requestsPerSecond', 'p99Ms'],
              properties: {
                operation: { type: 'string', description: 'method and route pattern, e.g. `GET /v1/members/:memberId/licenses`' },
                requestsPerSecond: { type: 'number' },
                p99Ms: { type: ['number', 'null'], description: 'estimated from the latency buckets; null without requests' },
              },
            },
          },
          workers: {
            type: 'array',
            items: {
              type: 'object',
              required: ['worker', 'membersInMemory', 'mailboxDepth'],
              properties: { worker: { type: 'string' }, membersInMemory: { type: 'number' }, mailboxDepth: { type: 'number' } },
            },
          },
        },
      },
    },
  },
} as const;

export function historyRoutes(app: FastifyInstance, history: MetricsHistory): void {
  app.get<{ Querystring: { seconds?: string } }>(
    '/v1/admin/metrics/history',
    {
      schema: {
        summary: 'Requests/s and p99 per operation, members in memory and mailbox depth per worker, over the last minutes',
        description: `Sampled in process every few seconds (the dashboard's charts). \`seconds\`: the window, ${MIN_SECONDS} up to \`windowSeconds\` (default ${HISTORY_DEFAULT_SECONDS} or the whole window if shorter).`,
        tags: ['admin'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { seconds: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'a whole number of seconds' } },
        },
        response: { 200: historyAnswer, ...errorAnswers('VALIDATION_FAILED', 'UNAUTHORIZED') },
      },
    },
    async (request) => {
      const raw = request.query.seconds;
      const seconds = raw === undefined ? Math.min(HISTORY_DEFAULT_SECONDS, history.windowSeconds) : Number(raw);
      if (seconds < MIN_SECONDS || seconds > history.windowSeconds) {
        const field = 'querystring.seconds';
        throw new AppError('VALIDATION_FAILED', `${field} must be from ${MIN_SECONDS} to ${history.windowSeconds}`, { field });
      }
      return history.points(seconds);
    },
  );
}

/**
 * The debug API: a member's history, its state at an instant and what an acquire would have
 * decided then, all rebuilt from the stored events (src/service/history.ts). Reads go straight
 * to the event store, not through the actors, so they never queue behind a member's commands
 * and never touch its in-memory state.
 *
 * Authentication is not done here: the caller registers this plugin behind its bearer-token
 * guard (see app.ts).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Rules } from '../../domain/rules.ts';
import { eventLines, explainAt, memberStateAt, presentLatestSnapshot, presentState, type EventFilter } from '../../service/history.ts';
import type { EventStore } from '../../store/event-store.ts';
import { errorAnswers, id, isoTime, memberParams, parseIsoTime, plan, refusalReason } from '../schemas.ts';

export interface DebugDependencies {
  store: EventStore;
  /** The rules in force now (the fallback rules version for a member with no events yet). */
  rules: () => Rules;
  /** The service clock: `at` defaults to now. */
  now: () => number;
}

export const NDJSON = 'application/x-ndjson';

const aggregateName = { type: 'string', enum: ['license', 'downloaded', 'device'] } as const;

// Answers are documented loosely on purpose (extra fields allowed): the debug API shows what the
// store holds, and the serializer must never drop a field of it.
const anyObject = { type: 'object', additionalProperties: true } as const;
const eventShown = {
  type: 'object',
  additionalProperties: true,
  description:
    'A stored event; a row that cannot be decoded has `payload` and `decodeError` instead of `data`. A store failure part-way ends the list with `{"error": {code, message}}`.',
  properties: {
    position: { type: 'integer' },
    generation: { type: 'integer' },
    type: { type: 'string' },
    schemaVersion: { type: 'integer' },
    at: { type: 'string' },
    aggregate: anyObject,
    rulesVersion: { type: 'string' },
    requestId: { type: ['string', 'null'] },
    correlationId: { type: ['string', 'null'] },
    data: anyObject,
    payload: { type: 'string' },
    decodeError: { type: 'string' },
    error: anyObject,
  },
} as const;
const eventsAnswer = {
  200: {
    description: 'The events, oldest decision first: one JSON document, or one event per line with `Accept: application/x-ndjson`.',
    content: {
      'application/json': {
        schema: { type: 'object', required: ['memberId', 'events'], properties: { memberId: { type: 'string' }, events: { type: 'array', items: eventShown } } },
      },
      'application/x-ndjson': { schema: eventShown },
    },
  },
} as const;
const stateAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['memberId', 'at', 'eventsApplied', 'lastEvent', 'licenses', 'downloaded', 'devices'],
  properties: {
    memberId: { type: 'string' },
    at: { type: 'string' },
    eventsApplied: { type: 'integer' },
    lastEvent: { type: ['object', 'null'], additionalProperties: true },
    licenses: { type: 'array', items: anyObject },
    downloaded: { type: 'array', items: anyObject },
    devices: { type: 'array', items: anyObject },
    skippedRows: { type: 'array', items: anyObject, description: 'Rows the fold left out because a void names them.' },
    latestSnapshot: { type: ['object', 'null'], additionalProperties: true, description: 'The newest snapshot row, shown and never used.' },
  },
} as const;
const explainAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['memberId', 'allowed', 'rulesVersion', 'at', 'limits', 'counting', 'rulesVersionSource'],
  properties: {
    memberId: { type: 'string' },
    allowed: { type: 'boolean' },
    reason: refusalReason,
    message: { type: 'string' },
    details: anyObject,
    rulesVersion: { type: 'string' },
    at: { type: 'string' },
    limits: anyObject,
    counting: anyObject,
    rulesVersionSource: { type: 'string', enum: ['member-events', 'current', 'requested'] },
  },
} as const;
const rulesVersion = { type: 'string', minLength: 1, maxLength: 128 } as const;

async function* ndjson(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line}\n`;
}

async function* jsonDocument(memberId: string, lines: AsyncIterable<string>): AsyncGenerator<string> {
  yield `{"memberId":${JSON.stringify(memberId)},"events":[`;
  let first = true;
  for await (const line of lines) {
    yield first ? line : `,${line}`;
    first = false;
  }
  yield ']}';
}

function instant(value: string | undefined, field: string, fallback: () => number): number {
  return value === undefined ? fallback() : parseIsoTime(value, field);
}

export function debugRoutes(app: FastifyInstance, deps: DebugDependencies): void {
  app.get<{ Params: { memberId: string }; Querystring: { aggregate?: string; aggregateId?: string; from?: string; to?: string } }>(
    '/v1/debug/members/:memberId/events',
    {
      schema: {
        params: memberParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { aggregate: aggregateName, aggregateId: id, from: isoTime, to: isoTime },
        },
        response: { ...eventsAnswer, ...errorAnswers('VALIDATION_FAILED', 'TIME_OUT_OF_RANGE', 'UNAUTHORIZED', 'STORE_UNAVAILABLE') },
      },
    },
    async (request, reply) => {
      const { memberId } = request.params;
      const q = request.query;
      const filter: EventFilter = {
        aggregate: q.aggregate,
        aggregateId: q.aggregateId,
        from: q.from === undefined ? undefined : parseIsoTime(q.from, 'querystring.from'),
        to: q.to === undefined ? undefined : parseIsoTime(q.to, 'querystring.to'),
      };
      // Fail before the first byte when the store cannot be read at all: a proper 503.
      await deps.store.readHead(memberId);
      const lines = eventLines(deps.store, memberId, filter);
      // Streamed either way, with backpressure: the generator reads the next page only when the
      // client has taken what came before, so a long history never sits in memory.
      const wantsNdjson = (request.headers.accept ?? '').includes(NDJSON);
      const body = Readable.from(wantsNdjson ? ndjson(lines) : jsonDocument(memberId, lines), { objectMode: false });
      return reply.type(wantsNdjson ? NDJSON : 'application/json; charset=utf-8').send(body);
    },
  );

  app.get<{ Params: { memberId: string }; Querystring: { at?: string } }>(
    '/v1/debug/members/:memberId/state',
    {
      schema: {
        params: memberParams,
        querystring: { type: 'object', additionalProperties: false, properties: { at: isoTime } },
        response: { 200: stateAnswer, ...errorAnswers('VALIDATION_FAILED', 'TIME_OUT_OF_RANGE', 'UNAUTHORIZED', 'STORE_UNAVAILABLE', 'EVENT_DECODE_FAILED') },
      },
    },
    async (request) => {
      const at = instant(request.query.at, 'querystring.at', deps.now);
      const { memberId } = request.params;
      // The snapshot is never used here, only shown: a load that cannot read it replays the events.
      return { ...presentState(memberId, await memberStateAt(deps.store, memberId, at)), latestSnapshot: await presentLatestSnapshot(deps.store, memberId) };
    },
  );

  app.get<{ Params: { memberId: string }; Querystring: { deviceId: string; titleId: string; at?: string; plan?: string; rulesVersion?: string } }>(
    '/v1/debug/members/:memberId/explain',
    {
      schema: {
        params: memberParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceId', 'titleId'],
          properties: { deviceId: id, titleId: id, at: isoTime, plan, rulesVersion },
        },
        response: {
          200: explainAnswer,
          ...errorAnswers('VALIDATION_FAILED', 'TIME_OUT_OF_RANGE', 'UNKNOWN_PLAN', 'UNAUTHORIZED', 'RULES_VERSION_NOT_FOUND', 'STORE_UNAVAILABLE', 'EVENT_DECODE_FAILED'),
        },
      },
    },
    async (request) => {
      const { memberId } = request.params;
      const q = request.query;
      return explainAt(deps, memberId, { deviceId: q.deviceId, titleId: q.titleId, plan: q.plan }, instant(q.at, 'querystring.at', deps.now), q.rulesVersion);
    },
  );
}

/**
 * Moves the manual test clock. Registered only when the config says `"clock": "manual"`; with
 * the system clock the route does not exist (404). It is an admin route: adminRoutes registers
 * it inside the token-protected admin scope. Never enable the manual clock in production.
 *
 * `advanceMs` only moves forward (0 to a century); to go back, set an earlier `now`, which the
 * workers follow exactly. Either way the clock never leaves the representable range
 * (TIME_OUT_OF_RANGE naming the field).
 */
import type { FastifyInstance } from 'fastify';
import { iso } from '../../domain/time.ts';
import type { ManualClock } from '../../service/clock.ts';
import { BODY_CODES, errorAnswers, isoTime, parseIsoTime, requireRepresentable } from '../schemas.ts';

/** A century: far enough for any test, small enough to stay an exact integer sum. */
const MAX_STEP_MS = 100 * 365 * 86_400_000;

export function adminClockRoutes(app: FastifyInstance, clock: ManualClock): void {
  app.post<{ Body: { advanceMs: number } | { now: string } }>(
    '/v1/admin/clock',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          properties: {
            advanceMs: { type: 'integer', minimum: 0, maximum: MAX_STEP_MS },
            now: isoTime,
          },
        },
        summary: 'Move the manual test clock (only with "clock": "manual")',
        tags: ['admin'],
        response: {
          200: { type: 'object', required: ['now'], properties: { now: { type: 'string' } } },
          ...errorAnswers('VALIDATION_FAILED', 'TIME_OUT_OF_RANGE', 'UNAUTHORIZED', ...BODY_CODES),
        },
      },
    },
    async (request) => {
      const body = request.body;
      if ('advanceMs' in body) clock.set(requireRepresentable(clock.now() + body.advanceMs, 'body.advanceMs'));
      else clock.set(parseIsoTime(body.now, 'body.now'));
      return { now: iso(clock.now()) };
    },
  );
}

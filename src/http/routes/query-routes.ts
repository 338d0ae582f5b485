/** Read-only edge routes: the acquire check and the active licenses, answered from memory. */
import type { FastifyInstance } from 'fastify';
import { iso } from '../../domain/time.ts';
import type { LicensePort } from '../../service/license-port.ts';
import { UNDECODABLE_HISTORY } from '../../service/license-service.ts';
import { HOT_TIER_UNAVAILABLE } from '../../service/member-repository.ts';
import { checkAnswer, checkQuerystring, errorAnswers, memberParams, MEMBER_ROUTE_CODES } from '../schemas.ts';

/**
 * Set on a check answered with the fallback (the member's stored history cannot be read), or
 * from the cold tier because the hot one cannot be reached (docs/storage.md#degraded-mode).
 */
export const DEGRADED_HEADER = 'x-license-degraded';

export function queryRoutes(app: FastifyInstance, service: LicensePort, now: () => number): void {
  app.get<{ Params: { memberId: string }; Querystring: { deviceId: string; titleId: string; plan?: string } }>(
    '/v1/members/:memberId/check',
    {
      schema: {
        params: memberParams,
        querystring: checkQuerystring,
        response: {
          200: {
            ...checkAnswer,
            // Documented so that an edge can tell the fallback answer from a decision.
            headers: {
              [DEGRADED_HEADER]: {
                type: 'string',
                enum: [UNDECODABLE_HISTORY, HOT_TIER_UNAVAILABLE],
                description:
                  "Present only on a degraded answer. `undecodable-history`: the member's stored history cannot be read; the answer is the fallback (allowed), not a decision. `hot-tier-unavailable`: the event store's hot tier cannot be reached; the answer is decided on the cold tier's copy of the member's history, which may miss its latest events.",
              },
            },
          },
          ...errorAnswers(...MEMBER_ROUTE_CODES, 'UNKNOWN_PLAN', 'TIME_OUT_OF_RANGE'),
        },
      },
    },
    // The port's promise with the answer chained on, rather than an async handler awaiting it:
    // one promise less on the hottest route.
    (request, reply) =>
      service.check(request.params.memberId, request.query).then((result) => {
        if (result.allowed && result.degraded === UNDECODABLE_HISTORY) {
          // The fallback answer for a member whose history cannot be read: a valid answer, marked.
          reply.header(DEGRADED_HEADER, result.degraded);
          return { allowed: true, rulesVersion: result.rulesVersion };
        }
        if (result.degraded !== undefined) {
          // Decided on the cold tier's copy (hot unreachable): the decision, marked.
          reply.header(DEGRADED_HEADER, result.degraded);
          const { degraded: _marked, ...answer } = result;
          return answer;
        }
        return result;
      }),
  );

  app.get<{ Params: { memberId: string } }>(
    '/v1/members/:memberId/licenses',
    {
      schema: {
        params: memberParams,
        response: {
          200: {
            type: 'object',
            required: ['licenses'],
            properties: {
              licenses: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    licenseId: { type: 'string' },
                    deviceId: { type: 'string' },
                    titleId: { type: 'string' },
                    studioId: { type: ['string', 'null'] },
                    acquiredAt: { type: 'string' },
                    expiresAt: { type: 'string' },
                    renewals: { type: 'integer' },
                    expired: { type: 'boolean' },
                  },
                },
              },
            },
          },
          ...errorAnswers(...MEMBER_ROUTE_CODES),
        },
      },
    },
    async (request) => {
      const at = now();
      const licenses = await service.activeLicenses(request.params.memberId);
      return {
        licenses: licenses.map((l) => ({
          licenseId: l.licenseId,
          deviceId: l.deviceId,
          titleId: l.titleId,
          studioId: l.studioId,
          acquiredAt: iso(l.acquiredAt),
          expiresAt: iso(l.expiresAt),
          renewals: l.renewals,
          // Expired but unreleased licenses are listed: they still hold their slots.
          expired: l.expiresAt <= at,
        })),
      };
    },
  );
}

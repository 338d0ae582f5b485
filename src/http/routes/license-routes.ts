/** Edge commands on licenses: acquire, renew, release, playback sync. */
import type { FastifyInstance } from 'fastify';
import type { LicensePort } from '../../service/license-port.ts';
import { sendCommandResult } from '../replies.ts';
import { commandErrorAnswers, id, isoTime, licenseCommandBody, licenseParams, memberParams, parseIsoTime, plan, requestId, requireRepresentable } from '../schemas.ts';

interface MemberParams {
  memberId: string;
}
interface LicenseParams extends MemberParams {
  licenseId: string;
}
interface LicenseCommandBody {
  requestId?: string;
  deviceId?: string;
}

const MAX_PLAYBACK_EVENTS = 1000;

export function licenseRoutes(app: FastifyInstance, service: LicensePort): void {
  app.post<{ Params: MemberParams; Body: { deviceId: string; titleId: string; plan?: string; requestId?: string } }>(
    '/v1/members/:memberId/licenses',
    {
      schema: {
        params: memberParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['deviceId', 'titleId'],
          properties: { deviceId: id, titleId: id, plan, requestId },
        },
        response: {
          201: {
            type: 'object',
            required: ['licenseId', 'memberId', 'deviceId', 'titleId', 'studioId', 'expiresAt', 'rulesVersion'],
            properties: {
              licenseId: { type: 'string' },
              memberId: { type: 'string' },
              deviceId: { type: 'string' },
              titleId: { type: 'string' },
              studioId: { type: ['string', 'null'] },
              expiresAt: { type: 'string' },
              rulesVersion: { type: 'string' },
            },
          },
          ...commandErrorAnswers('UNKNOWN_PLAN', 'TIME_OUT_OF_RANGE', 'LICENSE_REFUSED'),
        },
      },
    },
    async (request, reply) => {
      const { memberId } = request.params;
      const { deviceId, titleId, plan: memberPlan, requestId: rid } = request.body;
      const result = await service.execute(memberId, { correlationId: request.id, type: 'AcquireLicense', deviceId, titleId, plan: memberPlan, requestId: rid });
      return sendCommandResult(reply, memberId, 'AcquireLicense', result, 201);
    },
  );

  licenseLifecycleRoute(app, service, 'renew', 'RenewLicense', {
    required: ['licenseId', 'expiresAt', 'renewals'],
    properties: { licenseId: { type: 'string' }, expiresAt: { type: 'string' }, renewals: { type: 'integer' } },
  });
  licenseLifecycleRoute(app, service, 'release', 'ReleaseLicense', {
    required: ['licenseId', 'releasedAt'],
    properties: { licenseId: { type: 'string' }, releasedAt: { type: 'string' } },
  });

  app.post<{
    Params: LicenseParams;
    Body: { events: { sessionId: string; startedAt: string; durationMs: number }[]; requestId?: string; deviceId?: string };
  }>(
    '/v1/members/:memberId/licenses/:licenseId/playback',
    {
      schema: {
        params: licenseParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['events'],
          properties: {
            events: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_PLAYBACK_EVENTS,
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['sessionId', 'startedAt', 'durationMs'],
                properties: {
                  sessionId: id,
                  startedAt: isoTime,
                  // Up to one year of playback in one session: anything longer is a client bug.
                  durationMs: { type: 'integer', minimum: 0, maximum: 31_536_000_000 },
                },
              },
            },
            requestId,
            deviceId: id,
          },
        },
        response: {
          202: {
            type: 'object',
            required: ['licenseId', 'recorded'],
            properties: { licenseId: { type: 'string' }, recorded: { type: 'integer' } },
          },
          ...commandErrorAnswers('TIME_OUT_OF_RANGE', 'LICENSE_NOT_FOUND', 'PLAYBACK_REFUSED'),
        },
      },
    },
    async (request, reply) => {
      const { memberId, licenseId } = request.params;
      const sessions = request.body.events.map((event, index) => {
        const startedAt = parseIsoTime(event.startedAt, `body.events.${index}.startedAt`);
        // The session's end must be representable too: it is what reports add up.
        requireRepresentable(startedAt + event.durationMs, `body.events.${index}.durationMs`);
        return { sessionId: event.sessionId, startedAt, durationMs: event.durationMs };
      });
      const result = await service.execute(memberId, {
        correlationId: request.id,
        type: 'RecordPlayback',
        licenseId,
        sessions,
        deviceId: request.body.deviceId,
        requestId: request.body.requestId,
      });
      return sendCommandResult(reply, memberId, 'RecordPlayback', result, 202);
    },
  );
}

/** Renew and release: same parameters and optional body, one command each, 200 on success. */
function licenseLifecycleRoute(
  app: FastifyInstance,
  service: LicensePort,
  action: 'renew' | 'release',
  type: 'RenewLicense' | 'ReleaseLicense',
  answer: { required: string[]; properties: Record<string, unknown> },
): void {
  app.post<{ Params: LicenseParams; Body: LicenseCommandBody }>(
    `/v1/members/:memberId/licenses/:licenseId/${action}`,
    {
      schema: {
        params: licenseParams,
        body: licenseCommandBody,
        response: {
          200: { type: 'object', ...answer },
          ...commandErrorAnswers('TIME_OUT_OF_RANGE', 'LICENSE_NOT_FOUND', type === 'RenewLicense' ? 'RENEWAL_REFUSED' : 'RELEASE_REFUSED'),
        },
      },
    },
    async (request, reply) => {
      const { memberId, licenseId } = request.params;
      const { deviceId, requestId: rid } = request.body;
      const result = await service.execute(memberId, { correlationId: request.id, type, licenseId, deviceId, requestId: rid });
      return sendCommandResult(reply, memberId, type, result, 200);
    },
  );
}

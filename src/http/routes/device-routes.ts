/** Remote device deactivation: releases every license on the device, a limited number of times a year. */
import type { FastifyInstance } from 'fastify';
import type { LicensePort } from '../../service/license-port.ts';
import { sendCommandResult } from '../replies.ts';
import { commandErrorAnswers, deviceParams, requestId } from '../schemas.ts';

export function deviceRoutes(app: FastifyInstance, service: LicensePort): void {
  app.post<{ Params: { memberId: string; deviceId: string }; Body: { requestId?: string } }>(
    '/v1/members/:memberId/devices/:deviceId/deactivate',
    {
      schema: {
        params: deviceParams,
        body: { type: 'object', additionalProperties: false, properties: { requestId } },
        response: {
          200: {
            type: 'object',
            required: ['deviceId', 'releasedLicenseIds'],
            properties: { deviceId: { type: 'string' }, releasedLicenseIds: { type: 'array', items: { type: 'string' } } },
          },
          ...commandErrorAnswers('DEVICE_NOT_FOUND', 'DEACTIVATION_REFUSED'),
        },
      },
    },
    async (request, reply) => {
      const { memberId, deviceId } = request.params;
      const result = await service.execute(memberId, { correlationId: request.id, type: 'DeactivateDevice', deviceId, requestId: request.body.requestId });
      return sendCommandResult(reply, memberId, 'DeactivateDevice', result, 200);
    },
  );
}

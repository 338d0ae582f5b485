/** How command outcomes become HTTP answers: success bodies, refusals (409) and not-found (404). */
import type { FastifyReply } from 'fastify';
import type { CommandAnswer } from '../domain/member/answers.ts';
import type { MemberCommand } from '../domain/member/commands.ts';
import { iso } from '../domain/time.ts';
import { ERROR_CATALOG, type ErrorCode } from '../errors/catalog.ts';
import type { CommandResult } from '../service/license-service.ts';

const REFUSAL_CODE: Record<MemberCommand['type'], ErrorCode> = {
  AcquireLicense: 'LICENSE_REFUSED',
  RenewLicense: 'RENEWAL_REFUSED',
  ReleaseLicense: 'RELEASE_REFUSED',
  RecordPlayback: 'PLAYBACK_REFUSED',
  DeactivateDevice: 'DEACTIVATION_REFUSED',
};

/** The JSON body of a successful command. Times are ISO-8601 strings. */
export function presentAnswer(memberId: string, answer: CommandAnswer): Record<string, unknown> {
  switch (answer.kind) {
    case 'acquire':
      return {
        licenseId: answer.licenseId,
        memberId,
        deviceId: answer.deviceId,
        titleId: answer.titleId,
        studioId: answer.studioId,
        expiresAt: iso(answer.expiresAt),
        rulesVersion: answer.rulesVersion,
      };
    case 'renew':
      return { licenseId: answer.licenseId, expiresAt: iso(answer.expiresAt), renewals: answer.renewals };
    case 'release':
      return { licenseId: answer.licenseId, releasedAt: iso(answer.releasedAt) };
    case 'playback':
      return { licenseId: answer.licenseId, recorded: answer.recorded };
    case 'deactivate':
      return { deviceId: answer.deviceId, releasedLicenseIds: answer.releasedLicenseIds };
  }
}

export function sendCommandResult(reply: FastifyReply, memberId: string, command: MemberCommand['type'], result: CommandResult, successStatus: number): FastifyReply {
  if (result.outcome === 'refused') {
    const { reason, message, details } = result.refusal;
    if (reason === 'LICENSE_NOT_FOUND' || reason === 'DEVICE_NOT_FOUND') {
      return reply.status(ERROR_CATALOG[reason].status).send({ code: reason, message, details });
    }
    const code = REFUSAL_CODE[command];
    return reply.status(ERROR_CATALOG[code].status).send({ code, reason, message, details, rulesVersion: result.rulesVersion });
  }
  // A repeated request id gets the first answer again; the header lets clients tell.
  if (result.repeated) reply.header('idempotent-replayed', 'true');
  return reply.status(successStatus).send(presentAnswer(memberId, result.answer));
}

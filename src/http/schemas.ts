/** JSON schemas shared by the edge routes. Ids: 1 to 128 characters of [A-Za-z0-9._:-] (src/domain/ids.ts). */
import { ID_MAX_LENGTH, ID_PATTERN } from '../domain/ids.ts';
import { REFUSAL_REASONS } from '../domain/limits/index.ts';
import { isRepresentable, MAX_ISO, MIN_ISO } from '../domain/time-range.ts';
import { AppError, ERROR_CATALOG, type ErrorCode } from '../errors/catalog.ts';

export const id = { type: 'string', pattern: ID_PATTERN, minLength: 1, maxLength: ID_MAX_LENGTH } as const;
export const requestId = id;
export const plan = { type: 'string', minLength: 1, maxLength: 64, description: "A plan of the rules in force (else 400 UNKNOWN_PLAN); absent: the rules' default plan." } as const;
export const isoTime = { type: 'string', format: 'date-time' } as const;

/**
 * The instant of a string that passed `isoTime`. The date-time format accepts leap seconds
 * (23:59:60), which Date.parse cannot read (NaN): refuse those as bad input rather than store NaN.
 */
export function parseIsoTime(value: string, field: string): number {
  const at = Date.parse(value);
  if (!Number.isFinite(at)) {
    throw new AppError('VALIDATION_FAILED', `${field} must be an ISO-8601 date-time without a leap second (23:59:60)`, { field });
  }
  // The format allows years 0000 to 9999 in any offset: 9999-12-31T23:59:59-01:00 is year 10000.
  return requireRepresentable(at, field);
}

/** `at` when the service can represent it, else TIME_OUT_OF_RANGE naming `field`. */
export function requireRepresentable(at: number, field: string): number {
  if (!isRepresentable(at)) {
    throw new AppError('TIME_OUT_OF_RANGE', `${field} must be between ${MIN_ISO} and ${MAX_ISO}`, { field });
  }
  return at;
}

/** The acquire check's query and answer (the route, and the benchmarks' baselines that mimic it). */
export const checkQuerystring = {
  type: 'object',
  additionalProperties: false,
  required: ['deviceId', 'titleId'],
  properties: { deviceId: id, titleId: id, plan },
} as const;

/** A refusal's reason: a limit's (src/domain/limits/) or a license's lifecycle. */
export const refusalReason = { type: 'string', enum: REFUSAL_REASONS } as const;

export const checkAnswer = {
  type: 'object',
  required: ['allowed', 'rulesVersion'],
  properties: {
    allowed: { type: 'boolean' },
    reason: refusalReason,
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    rulesVersion: { type: 'string' },
  },
} as const;

export const memberParams = {
  type: 'object',
  additionalProperties: false,
  required: ['memberId'],
  properties: { memberId: id },
} as const;

export const licenseParams = {
  type: 'object',
  additionalProperties: false,
  required: ['memberId', 'licenseId'],
  properties: { memberId: id, licenseId: id },
} as const;

export const deviceParams = {
  type: 'object',
  additionalProperties: false,
  required: ['memberId', 'deviceId'],
  properties: { memberId: id, deviceId: id },
} as const;

/** Body of renew and release: all optional, so an empty body is fine. */
export const licenseCommandBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requestId,
    // When given, the license must be on this device (WRONG_DEVICE otherwise).
    deviceId: id,
  },
} as const;

export const errorResponse = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
  },
} as const;

export const refusalResponse = {
  type: 'object',
  required: ['code', 'reason', 'message', 'details'],
  properties: {
    code: { type: 'string' },
    reason: refusalReason,
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    rulesVersion: { type: 'string' },
  },
} as const;

/**
 * The error answers a route documents, from the catalog codes it can answer: one response per
 * status, whose `code` is one of those codes and whose description names them. What a route
 * really answers is checked against this by the conformance fuzz run (test/conformance).
 * Refusal codes (409 with a `reason`) take the refusal shape. Every route also lists the codes
 * any request can get before it reaches a route (ANY_REQUEST_CODES).
 */
export function errorAnswers(...codes: ErrorCode[]): ErrorAnswers {
  const byStatus = new Map<ErrorStatus, ErrorCode[]>();
  for (const code of new Set([...codes, ...ANY_REQUEST_CODES])) {
    const status = ERROR_CATALOG[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const answers: ErrorAnswers = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const base = list.every((code) => REFUSAL_CODES.has(code)) ? refusalResponse : errorResponse;
    answers[status] = {
      ...base,
      description: `${list.map((code) => `\`${code}\``).join(', ')} (the README's errors table says when each is answered)`,
      properties: { ...base.properties, code: { type: 'string', enum: list } },
    };
  }
  return answers;
}

/** Answered for any URL by the HTTP layer, before routing: malformed, slow, oversized requests. */
export const ANY_REQUEST_CODES = ['MALFORMED_REQUEST', 'REQUEST_TIMEOUT', 'URI_TOO_LONG', 'EXPECTATION_FAILED', 'HEADERS_TOO_LARGE'] as const satisfies readonly ErrorCode[];

type ErrorStatus = (typeof ERROR_CATALOG)[ErrorCode]['status'];
/** Keyed by the catalog's statuses, so that fastify's typed `reply.status()` accepts each of them. */
export type ErrorAnswers = Partial<Record<ErrorStatus, Record<string, unknown>>>;

const REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set(['LICENSE_REFUSED', 'RENEWAL_REFUSED', 'RELEASE_REFUSED', 'PLAYBACK_REFUSED', 'DEACTIVATION_REFUSED']);

/** The 503s of a member's work: a busy, starting, failing or rebalancing service, or an absent store. Retry. */
export const SERVICE_BUSY_CODES = [
  'NOT_READY',
  'STORE_UNAVAILABLE',
  'STORE_CONFLICT',
  'OVERLOADED',
  'WORKER_FAILED',
  'OWNERSHIP_MOVED',
  'MISROUTED',
  'OWNER_UNREACHABLE',
] as const satisfies readonly ErrorCode[];

/**
 * Codes every /v1/members route can answer whatever it does: bad input, the per-member rate
 * limit, the busy 503s, and a member whose stored rows cannot be read.
 */
export const MEMBER_ROUTE_CODES = ['VALIDATION_FAILED', 'RATE_LIMITED', ...SERVICE_BUSY_CODES, 'EVENT_DECODE_FAILED'] as const satisfies readonly ErrorCode[];

/** Codes every route with a JSON body can answer about the body itself. */
export const BODY_CODES = ['INVALID_JSON', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const satisfies readonly ErrorCode[];

/** The error answers of a member command: the shared ones, plus `specific` (its refusal, its not-found). */
export function commandErrorAnswers(...specific: ErrorCode[]): ErrorAnswers {
  return errorAnswers(...MEMBER_ROUTE_CODES, ...BODY_CODES, 'REQUEST_ID_REUSED', ...specific);
}

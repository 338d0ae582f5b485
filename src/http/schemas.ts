/** JSON schemas shared by the edge routes. Ids: 1 to 128 characters of [A-Za-z0-9._:-]. */
import { isRepresentable, MAX_ISO, MIN_ISO } from '../domain/time-range.ts';
import { AppError } from '../errors/catalog.ts';

export const ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';

export const id = { type: 'string', pattern: ID_PATTERN, minLength: 1, maxLength: 128 } as const;
export const requestId = id;
export const plan = { type: 'string', minLength: 1, maxLength: 64 } as const;
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

export const checkAnswer = {
  type: 'object',
  required: ['allowed', 'rulesVersion'],
  properties: {
    allowed: { type: 'boolean' },
    reason: { type: 'string' },
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
    reason: { type: 'string' },
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    rulesVersion: { type: 'string' },
  },
} as const;

/** Response schemas every command route shares besides its success answer. */
export const commandErrorResponses = {
  400: errorResponse,
  404: errorResponse,
  409: refusalResponse,
  413: errorResponse,
  415: errorResponse,
  422: errorResponse,
  503: errorResponse,
} as const;

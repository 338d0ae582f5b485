/**
 * The one catalog of error codes the service answers with, and their HTTP statuses. The README's
 * "Errors" table documents the same list; test/errors/catalog.test.ts fails when they differ.
 * Errors are matched on `code`, never with instanceof: codes survive worker-thread boundaries.
 */
export const ERROR_CATALOG = {
  VALIDATION_FAILED: { status: 400, description: 'A path parameter, query string or body field is missing, of the wrong type or out of range; the message names the field.' },
  TIME_OUT_OF_RANGE: {
    status: 400,
    description:
      'A time given (a date-time field, the manual clock, `advanceMs`, a playback session) or one the command would store (an expiry) is outside 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z; `field` names it, nothing is written.',
  },
  INVALID_JSON: { status: 400, description: 'The body is not valid JSON.' },
  UNKNOWN_PLAN: { status: 400, description: 'The `plan` names no plan in the rules in force.' },
  BODY_TOO_LARGE: { status: 413, description: 'The body is over the configured size limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The body is not `application/json`.' },
  MALFORMED_REQUEST: {
    status: 400,
    description:
      'The request is not valid HTTP/1.1 (request line, method spelling, headers, Content-Length or chunked framing, a missing or repeated Host); answered before any route, and the connection is closed.',
  },
  METHOD_NOT_ALLOWED: { status: 405, description: 'The path exists but not with this method; `Allow` lists the methods it has.' },
  REQUEST_TIMEOUT: { status: 408, description: 'The request (headers and body) did not arrive within the configured time; the connection is closed.' },
  URI_TOO_LONG: { status: 414, description: 'The URL is longer than `service.http.maxUrlBytes`.' },
  EXPECTATION_FAILED: { status: 417, description: 'An `Expect` header other than `100-continue`.' },
  HEADERS_TOO_LARGE: { status: 431, description: 'The request line and headers together are over `service.http.maxHeaderBytes`; the connection is closed.' },
  REQUEST_ID_REUSED: { status: 422, description: 'The `requestId` was used in the last 24 hours for a different command.' },
  LICENSE_NOT_FOUND: {
    status: 404,
    description:
      'The member has no license with this id: never had, or released more than `service.retention.releasedLicenseDays` (30) days ago (the message says since when; the history still shows it).',
  },
  DEVICE_NOT_FOUND: {
    status: 404,
    description: 'The device never held a download for this member, or was deactivated more than 365 days ago and has held none since.',
  },
  RULES_VERSION_NOT_FOUND: { status: 404, description: 'The rules version to explain a decision with was never saved in the store (debug explain).' },
  ROUTE_NOT_FOUND: { status: 404, description: 'No such route (also: a route that is disabled by config).' },
  UNAUTHORIZED: { status: 401, description: 'An admin or debug route without `Authorization: Bearer <token>` or with a wrong token; the answer says nothing more.' },
  NODE_NOT_FOUND: { status: 404, description: 'The cluster has no node with this id (or it was removed).' },
  CLUSTER_CHANGE_REFUSED: {
    status: 409,
    description: 'A cluster change that cannot be made (it would leave no active node), or one that kept racing other changes; the message says which.',
  },
  RATE_LIMITED: { status: 429, description: 'Too many requests for this member; retry after the Retry-After seconds.' },
  RULES_RELOAD_REFUSED: {
    status: 409,
    description:
      'An admin rules reload found a config file it cannot apply (invalid, or changed rules under an unchanged version); the last good rules stay in force and the message says why.',
  },
  LICENSE_REFUSED: { status: 409, description: 'An acquire was refused by the rules; `reason` says which limit, `details` what counts toward it.' },
  RENEWAL_REFUSED: { status: 409, description: 'A renewal was refused (`LICENSE_RELEASED`, `RENEWAL_LIMIT`, `YEARLY_TITLE_LIMIT`, `WRONG_DEVICE`).' },
  RELEASE_REFUSED: { status: 409, description: 'A release named a device that does not hold the license (`WRONG_DEVICE`).' },
  PLAYBACK_REFUSED: { status: 409, description: 'Playback was refused (`LICENSE_RELEASED`, `WRONG_DEVICE`).' },
  DEACTIVATION_REFUSED: { status: 409, description: 'A device deactivation was refused (`DEACTIVATION_LIMIT`).' },
  STORE_CONFLICT: { status: 503, description: 'Another writer kept changing the member; retry later.' },
  OWNERSHIP_MOVED: {
    status: 503,
    description: 'A rebalance moved this member to another node while the request was in flight; nothing was written, retry (it reaches the new owner).',
  },
  MISROUTED: { status: 503, description: 'A forwarded request reached a node that does not own the member either (the nodes disagree on the ring during a change); retry.' },
  OWNER_UNREACHABLE: {
    status: 503,
    description: 'The node that owns this member did not answer a forwarded request; retry after the Retry-After seconds (its members move once the failure is noticed).',
  },
  NODE_UNREACHABLE: {
    status: 503,
    description: 'A cluster node did not answer an admin read that another node asked of it (the dashboard reading its metrics history); retry, or check the node.',
  },
  STORE_UNAVAILABLE: { status: 503, description: 'The event store did not answer in time; retry later.' },
  NOT_READY: {
    status: 503,
    description: 'The service is starting or shutting down, or (cluster) its view of the membership is too old to answer from until it has read it again.',
  },
  OVERLOADED: { status: 503, description: 'Too many requests are queued for this member or this worker; retry after the Retry-After seconds.' },
  WORKER_FAILED: { status: 503, description: 'The worker thread holding this member failed while the request was in flight; it is being replaced, retry.' },
  EVENT_DECODE_FAILED: {
    status: 503,
    description:
      'A stored row of this member cannot be decoded or applied (unknown type, newer schema version, bad payload or time); the message and the log name the row. Its commands are refused (nothing written) until the row is voided (`license-accounting repair`) or a service that reads it is deployed; its checks answer allowed, marked `x-license-degraded`. `Retry-After` is 300.',
  },
  INTERNAL: { status: 500, description: 'An unexpected failure; the log has the details.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;
export type StoreErrorCode = Extract<ErrorCode, 'STORE_CONFLICT' | 'STORE_UNAVAILABLE' | 'EVENT_DECODE_FAILED' | 'OWNERSHIP_MOVED'>;

/**
 * The event store did not answer (in time): the request may be retried. For a write,
 * `outcome` says whether it is known not to have been applied, or may have been.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  readonly code = 'STORE_UNAVAILABLE';
  readonly status = ERROR_CATALOG.STORE_UNAVAILABLE.status;
  constructor(message: string, options: { cause?: unknown; outcome?: 'not-applied' | 'unknown' } = {}) {
    super(message, { cause: options.cause });
    this.outcome = options.outcome ?? 'unknown';
  }
  readonly outcome: 'not-applied' | 'unknown';
}

/** An error the service answers with; its status comes from the catalog. */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.status = ERROR_CATALOG[code].status;
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOG, code);
}

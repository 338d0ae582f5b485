/**
 * The edge client's public types: what each route answers, and the one result shape every call
 * returns. A call never throws for a service problem: it answers either the service's own
 * answer (`fallback: false`), the fallback (`fallback: true`, when the service could not answer)
 * or a typed 4xx (`ok: false`: validation, refusal, not found, rate limit). Only programmer
 * errors (calling a closed client) throw.
 */

/** Why a call answered the fallback instead of the service's answer. */
export type FallbackCause = 'timeout' | 'connection' | 'status5xx' | 'breakerOpen';

export const FALLBACK_CAUSES: readonly FallbackCause[] = ['timeout', 'connection', 'status5xx', 'breakerOpen'];

/** The operations of the edge API; also the `route` label of the fallback counter. */
export type RouteName = 'check' | 'listLicenses' | 'acquire' | 'renew' | 'release' | 'playback' | 'deactivate';

/** The service's own answer (2xx). `replayed`: a repeated requestId got the first answer again. */
export type Live<T> = T & { ok: true; fallback: false; status: number; replayed: boolean };

/** The fallback answer: what the service would answer a member with no licenses and no downloads. */
export type Fallback<F> = F & { ok: true; fallback: true; cause: FallbackCause };

/**
 * A 4xx answer, never a fallback: the service answered, and its answer is the truth.
 * `kind: 'refusal'` is a 409 decision (`reason` says which limit); `kind: 'error'` is anything
 * else (400 validation, 404 not found, 422 request id reused, 429 rate limited...).
 */
export interface Rejection {
  ok: false;
  fallback: false;
  kind: 'refusal' | 'error';
  status: number;
  code: string;
  message: string;
  reason?: string;
  details?: Record<string, unknown>;
  rulesVersion?: string;
  field?: string;
  /** From a Retry-After header (429), in milliseconds. */
  retryAfterMs?: number;
}

export type Result<T, F = T> = Live<T> | Fallback<F> | Rejection;

// ---- Answers, route by route (the JSON bodies of README's "HTTP API (edge)") ----

export type CheckAnswer = { allowed: true; rulesVersion: string } | { allowed: false; reason: string; message: string; details: Record<string, unknown>; rulesVersion: string };
/** No rules were consulted, so there is no rules version. */
export interface CheckFallback {
  allowed: true;
  rulesVersion: null;
}

export interface ActiveLicense {
  licenseId: string;
  deviceId: string;
  titleId: string;
  studioId: string | null;
  acquiredAt: string;
  expiresAt: string;
  renewals: number;
  expired: boolean;
}
export interface LicenseList {
  licenses: ActiveLicense[];
}
export interface LicenseListFallback {
  licenses: [];
}

export interface AcquiredLicense {
  licenseId: string;
  memberId: string;
  deviceId: string;
  titleId: string;
  studioId: string | null;
  expiresAt: string;
  rulesVersion: string;
}
/**
 * A fallback acquire: allowed, with a license id minted by the client (randomUUID) so the
 * player has something to hold and to release later; the service never heard of it, so its
 * expiry, studio and rules version are unknown (null).
 */
export interface FallbackLicense {
  licenseId: string;
  memberId: string;
  deviceId: string;
  titleId: string;
  studioId: null;
  expiresAt: null;
  rulesVersion: null;
}

export interface Renewal {
  licenseId: string;
  expiresAt: string;
  renewals: number;
}
export interface RenewalFallback {
  licenseId: string;
  expiresAt: null;
  renewals: null;
}

export interface Release {
  licenseId: string;
  releasedAt: string;
}
export interface ReleaseFallback {
  licenseId: string;
  releasedAt: null;
}

export interface PlaybackSession {
  sessionId: string;
  /** ISO-8601. */
  startedAt: string;
  durationMs: number;
}
export interface PlaybackRecorded {
  licenseId: string;
  recorded: number;
}
export interface PlaybackFallback {
  licenseId: string;
  recorded: null;
}

export interface Deactivation {
  deviceId: string;
  releasedLicenseIds: string[];
}
/** A member with no licenses has none to release. */
export interface DeactivationFallback {
  deviceId: string;
  releasedLicenseIds: [];
}

// ---- Inputs ----

export interface CheckInput {
  deviceId: string;
  titleId: string;
  plan?: string;
}
export interface AcquireInput {
  deviceId: string;
  titleId: string;
  plan?: string;
  /** Makes the command idempotent on the server, and so safe to retry. */
  requestId?: string;
}
export interface LicenseCommandInput {
  requestId?: string;
  /** Asserts which device holds the license (WRONG_DEVICE otherwise). */
  deviceId?: string;
}
export interface PlaybackInput extends LicenseCommandInput {
  events: PlaybackSession[];
}
export interface DeactivateInput {
  requestId?: string;
}

// ---- Options and observability ----

/** The pino-like logger the client writes to. */
export interface ClientLogger {
  warn(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
}

export interface FallbackEvent {
  route: RouteName;
  cause: FallbackCause;
  /** HTTP attempts made (0 when the breaker was open). */
  attempts: number;
  elapsedMs: number;
  /** The last failure's message, when there was one. */
  error?: string;
}

export interface ClientStats {
  /** Calls made through the public methods. */
  calls: number;
  /** Calls that answered the fallback, by cause. */
  fallbacks: Record<FallbackCause, number> & { total: number };
  /** Extra HTTP attempts after a first failed one. */
  retries: number;
  /** The breaker's state now. */
  breaker: 'closed' | 'open' | 'halfOpen';
}

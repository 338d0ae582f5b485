/**
 * The edge client: a typed caller of the license service's edge routes that keeps the edge
 * working when the service does not. Each call is: breaker (opossum) around each HTTP attempt
 * over a keep-alive undici Pool, a bounded retry loop where a repeat is safe, and the fallback
 * answer (fallbacks.ts) when no attempt got the service's own answer.
 *
 * The breaker wraps attempts, not calls: it measures how the service behaves, one request at
 * a time, and a half-open probe is exactly one request. 4xx answers count as successes for it:
 * the service is up and deciding.
 */
import CircuitBreaker from 'opossum';
import type { Pool } from 'undici';
import { acquireFallback, checkFallback, deactivateFallback, listFallback, playbackFallback, releaseFallback, renewFallback } from './fallbacks.ts';
import { resolveOptions, type EdgeClientOptions, type ResolvedOptions } from './options.ts';
import { retryDelay } from './retry.ts';
import { Telemetry } from './telemetry.ts';
import { attempt, AttemptFailure, createPool, parseRetryAfter, type HttpAnswer, type HttpRequest } from './transport.ts';
import type {
  AcquiredLicense,
  AcquireInput,
  CheckAnswer,
  CheckFallback,
  CheckInput,
  ClientStats,
  Deactivation,
  DeactivationFallback,
  DeactivateInput,
  FallbackCause,
  FallbackLicense,
  LicenseCommandInput,
  LicenseList,
  LicenseListFallback,
  PlaybackFallback,
  PlaybackInput,
  PlaybackRecorded,
  Rejection,
  Release,
  ReleaseFallback,
  Renewal,
  RenewalFallback,
  Result,
  RouteName,
} from './types.ts';

type Outcome = { answer: HttpAnswer } | { cause: FallbackCause; attempts: number; error?: string };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class EdgeClient {
  private readonly options: ResolvedOptions;
  private readonly pool: Pool;
  private readonly breaker: CircuitBreaker<[HttpRequest], HttpAnswer>;
  private readonly telemetry: Telemetry;
  private closed: Promise<void> | null = null;

  constructor(options: EdgeClientOptions) {
    this.options = resolveOptions(options);
    this.telemetry = new Telemetry(options.registry, options.logger, options.onFallback);
    this.pool = createPool(this.options.origin, this.options.connections, this.options.timeoutMs);
    const b = this.options.breaker;
    const breakerOptions: CircuitBreaker.Options<[HttpRequest]> & { enableSnapshots: boolean } = {
      // Attempts carry their own timeout (transport.ts) so that a late attempt is aborted, not
      // left running behind the breaker's back.
      timeout: false,
      errorThresholdPercentage: b.errorThresholdPercentage,
      volumeThreshold: b.volumeThreshold,
      resetTimeout: b.resetTimeoutMs,
      rollingCountTimeout: b.rollingWindowMs,
      rollingCountBuckets: 10,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    };
    this.breaker = new CircuitBreaker((request: HttpRequest) => attempt(this.pool, request), breakerOptions);
    this.breaker.on('open', () => this.telemetry.breakerChanged('open'));
    this.breaker.on('halfOpen', () => this.telemetry.breakerChanged('halfOpen'));
    this.breaker.on('close', () => this.telemetry.breakerChanged('closed'));
  }

  /** What an acquire would decide now; writes nothing. A read: retried. */
  check(memberId: string, input: CheckInput): Promise<Result<CheckAnswer, CheckFallback>> {
    const query = new URLSearchParams({ deviceId: input.deviceId, titleId: input.titleId });
    if (input.plan !== undefined) query.set('plan', input.plan);
    return this.call('check', { method: 'GET', path: `${this.member(memberId)}/check?${query.toString()}` }, true, checkFallback);
  }

  /** The member's active licenses. A read: retried. */
  listLicenses(memberId: string): Promise<Result<LicenseList, LicenseListFallback>> {
    return this.call('listLicenses', { method: 'GET', path: `${this.member(memberId)}/licenses` }, true, listFallback);
  }

  /** Acquires a license (201). Retried only with a requestId. */
  acquire(memberId: string, input: AcquireInput): Promise<Result<AcquiredLicense, FallbackLicense>> {
    const body = definedOnly({ deviceId: input.deviceId, titleId: input.titleId, plan: input.plan, requestId: input.requestId });
    return this.call('acquire', { method: 'POST', path: `${this.member(memberId)}/licenses`, body }, input.requestId !== undefined, () => acquireFallback(memberId, input));
  }

  renew(memberId: string, licenseId: string, input: LicenseCommandInput = {}): Promise<Result<Renewal, RenewalFallback>> {
    return this.licenseCommand('renew', memberId, licenseId, definedOnly({ requestId: input.requestId, deviceId: input.deviceId }), input.requestId, () =>
      renewFallback(licenseId),
    );
  }

  release(memberId: string, licenseId: string, input: LicenseCommandInput = {}): Promise<Result<Release, ReleaseFallback>> {
    return this.licenseCommand('release', memberId, licenseId, definedOnly({ requestId: input.requestId, deviceId: input.deviceId }), input.requestId, () =>
      releaseFallback(licenseId),
    );
  }

  playback(memberId: string, licenseId: string, input: PlaybackInput): Promise<Result<PlaybackRecorded, PlaybackFallback>> {
    const body = definedOnly({ events: input.events, requestId: input.requestId, deviceId: input.deviceId });
    return this.licenseCommand('playback', memberId, licenseId, body, input.requestId, () => playbackFallback(licenseId));
  }

  deactivateDevice(memberId: string, deviceId: string, input: DeactivateInput = {}): Promise<Result<Deactivation, DeactivationFallback>> {
    const path = `${this.member(memberId)}/devices/${encodeURIComponent(deviceId)}/deactivate`;
    return this.call('deactivate', { method: 'POST', path, body: definedOnly({ requestId: input.requestId }) }, input.requestId !== undefined, () => deactivateFallback(deviceId));
  }

  stats(): ClientStats {
    const breaker = this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'halfOpen' : 'closed';
    return this.telemetry.stats(breaker);
  }

  /** Stops the breaker's timers and closes the pool (in-flight requests finish first). Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.breaker.shutdown();
      await this.pool.close();
    })();
    return this.closed;
  }

  private member(memberId: string): string {
    return `${this.options.prefix}/v1/members/${encodeURIComponent(memberId)}`;
  }

  private licenseCommand<T, F>(
    route: 'renew' | 'release' | 'playback',
    memberId: string,
    licenseId: string,
    body: Record<string, unknown>,
    requestId: string | undefined,
    fallback: () => F,
  ): Promise<Result<T, F>> {
    const path = `${this.member(memberId)}/licenses/${encodeURIComponent(licenseId)}/${route}`;
    return this.call<T, F>(route, { method: 'POST', path, body }, requestId !== undefined, fallback);
  }

  private async call<T, F>(route: RouteName, request: Omit<HttpRequest, 'timeoutMs'>, retryable: boolean, fallback: () => F): Promise<Result<T, F>> {
    if (this.closed) throw new Error('EdgeClient: the client is closed');
    this.telemetry.call();
    const started = performance.now();
    const outcome = await this.exchange(route, request, retryable, started + this.options.budgetMs);
    if ('answer' in outcome) {
      const { status, body, headers } = outcome.answer;
      if (status >= 200 && status < 300) {
        // The service checks its own answers against the response schemas: taken as typed.
        return { ...(body as T), ok: true, fallback: false, status, replayed: headers['idempotent-replayed'] === 'true' };
      }
      return rejection(outcome.answer);
    }
    const elapsedMs = Math.round(performance.now() - started);
    this.telemetry.fallback({ route, cause: outcome.cause, attempts: outcome.attempts, elapsedMs, ...(outcome.error !== undefined ? { error: outcome.error } : {}) });
    return { ...fallback(), ok: true, fallback: true, cause: outcome.cause };
  }

  /**
   * Attempts until one gets the service's answer, the retry policy says stop, or the breaker
   * refuses. The fallback's cause is the last failure seen on the wire; `breakerOpen` only when
   * the call never reached the network.
   */
  private async exchange(route: RouteName, request: Omit<HttpRequest, 'timeoutMs'>, retryable: boolean, deadline: number): Promise<Outcome> {
    const policy = { retries: retryable ? this.options.retries : 0, backoffMs: this.options.backoffMs, maxBackoffMs: this.options.maxBackoffMs };
    let attempts = 0;
    let last: AttemptFailure | null = null;
    for (;;) {
      const timeoutMs = Math.max(1, Math.min(this.options.timeoutMs, deadline - performance.now()));
      try {
        const answer = await this.breaker.fire({ ...request, timeoutMs });
        return { answer };
      } catch (error) {
        if ((error as { code?: unknown }).code === 'EOPENBREAKER') {
          return last ? { cause: last.kind, attempts, error: last.message } : { cause: 'breakerOpen', attempts };
        }
        attempts += 1;
        last = error instanceof AttemptFailure ? error : new AttemptFailure('connection', (error as Error).message);
        const delay = retryDelay(last, attempts - 1, policy, deadline - performance.now());
        if (delay === null) return { cause: last.kind, attempts, error: last.message };
        this.telemetry.retry(route, attempts + 1, Math.round(delay), last.message);
        await sleep(delay);
      }
    }
  }
}

/** A 4xx as a typed result: the service's `{code, message, ...}` (or the bare status when a proxy answered). */
function rejection({ status, body, headers }: HttpAnswer): Rejection {
  const text = (key: string): string | undefined => (typeof body[key] === 'string' ? body[key] : undefined);
  const result: Rejection = {
    ok: false,
    fallback: false,
    kind: status === 409 && text('reason') !== undefined ? 'refusal' : 'error',
    status,
    code: text('code') ?? `HTTP_${status}`,
    message: text('message') ?? `the service answered ${status}`,
  };
  const reason = text('reason');
  if (reason !== undefined) result.reason = reason;
  const rulesVersion = text('rulesVersion');
  if (rulesVersion !== undefined) result.rulesVersion = rulesVersion;
  const field = text('field');
  if (field !== undefined) result.field = field;
  const details = body['details'];
  if (typeof details === 'object' && details !== null && !Array.isArray(details)) result.details = details as Record<string, unknown>;
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  if (retryAfterMs !== null) result.retryAfterMs = retryAfterMs;
  return result;
}

/** Drops undefined fields: the service's schemas accept no extra keys, and JSON has no undefined. */
function definedOnly(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

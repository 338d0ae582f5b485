/**
 * The client's options and their defaults. Validated once, in the constructor, so that a bad
 * setting fails at start-up rather than turning every call into a silent fallback.
 */
import type { Registry } from 'prom-client';
import type { ClientLogger, FallbackEvent } from './types.ts';

export interface BreakerOptions {
  /** Failure percentage over the rolling window that opens the breaker (default 50). */
  errorThresholdPercentage?: number;
  /** Attempts in the window before the percentage counts at all (default 10). */
  volumeThreshold?: number;
  /** Cool-down: how long the breaker stays open before letting one probe through (default 10 s). */
  resetTimeoutMs?: number;
  /** The rolling window the percentage is computed over (default 10 s). */
  rollingWindowMs?: number;
}

export interface RetryOptions {
  /** Extra attempts after the first, for reads and commands with a requestId (default 2). */
  retries?: number;
  /** First back-off (default 50 ms); doubles each retry, with jitter. */
  backoffMs?: number;
  /** Back-off ceiling (default 500 ms). */
  maxBackoffMs?: number;
}

export interface EdgeClientOptions {
  /** http(s) URL of the service, optionally with a path prefix (a gateway mount). */
  baseUrl: string;
  /** Per-attempt timeout, covering connect, headers and body (default 1000 ms). */
  timeoutMs?: number;
  /**
   * Bound on the whole call, retries and back-off included (default: timeoutMs × attempts).
   * A retry that cannot start with at least MIN_ATTEMPT_MS left is not made.
   */
  budgetMs?: number;
  /** Keep-alive connections in the pool (default 10). */
  connections?: number;
  retry?: RetryOptions;
  breaker?: BreakerOptions;
  logger?: ClientLogger;
  /** Called once per fallback answered (after it is counted); a throw here is logged and ignored. */
  onFallback?: (event: FallbackEvent) => void;
  /** Where `license_client_fallbacks_total` is registered (absent: the counter exists but is not exported). */
  registry?: Registry;
}

export interface ResolvedOptions {
  origin: string;
  /** Path prefix without a trailing slash ('' when none). */
  prefix: string;
  timeoutMs: number;
  budgetMs: number;
  connections: number;
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  breaker: Required<BreakerOptions>;
}

/** An attempt given less time than this would only add load and a late fallback. */
export const MIN_ATTEMPT_MS = 20;

function positive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`EdgeClient: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
  }
  return value;
}

export function resolveOptions(options: EdgeClientOptions): ResolvedOptions {
  let url: URL;
  try {
    url = new URL(options.baseUrl);
  } catch {
    throw new TypeError(`EdgeClient: baseUrl is not a URL: ${options.baseUrl}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`EdgeClient: baseUrl must be http or https, got ${url.protocol}`);
  }
  if (url.search || url.hash) throw new TypeError('EdgeClient: baseUrl must not carry a query or a fragment');

  const timeoutMs = positive('timeoutMs', options.timeoutMs ?? 1000);
  const retries = Math.floor(positive('retry.retries', options.retry?.retries ?? 2, true));
  const breaker = options.breaker ?? {};
  const threshold = positive('breaker.errorThresholdPercentage', breaker.errorThresholdPercentage ?? 50, true);
  if (threshold > 100) throw new TypeError('EdgeClient: breaker.errorThresholdPercentage must be at most 100');
  return {
    origin: url.origin,
    prefix: url.pathname.replace(/\/+$/, ''),
    timeoutMs,
    budgetMs: positive('budgetMs', options.budgetMs ?? timeoutMs * (retries + 1)),
    connections: Math.floor(positive('connections', options.connections ?? 10)),
    retries,
    backoffMs: positive('retry.backoffMs', options.retry?.backoffMs ?? 50, true),
    maxBackoffMs: positive('retry.maxBackoffMs', options.retry?.maxBackoffMs ?? 500, true),
    breaker: {
      errorThresholdPercentage: threshold,
      volumeThreshold: Math.floor(positive('breaker.volumeThreshold', breaker.volumeThreshold ?? 10, true)),
      resetTimeoutMs: positive('breaker.resetTimeoutMs', breaker.resetTimeoutMs ?? 10_000),
      rollingWindowMs: positive('breaker.rollingWindowMs', breaker.rollingWindowMs ?? 10_000),
    },
  };
}

/**
 * One HTTP attempt over the keep-alive pool. It resolves with the service's answer when the
 * service answered for itself (2xx and 4xx), and rejects with an AttemptFailure when it could
 * not (timeout, connection trouble, 5xx, an unreadable answer): those are the failures the
 * breaker counts and the retry policy looks at.
 */
import { Pool } from 'undici';
import type { FallbackCause } from './types.ts';

export interface HttpRequest {
  method: 'GET' | 'POST';
  /** Path and query, already encoded, prefix included. */
  path: string;
  body?: unknown;
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

/** Why an attempt did not get an answer from the service. `retryAfterMs`: from a 503's Retry-After. */
export class AttemptFailure extends Error {
  constructor(
    readonly kind: Exclude<FallbackCause, 'breakerOpen'>,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'AttemptFailure';
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return null;
  if (/^\s*\d+\s*$/.test(raw)) return Number(raw) * 1000;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

export function createPool(origin: string, connections: number, timeoutMs: number): Pool {
  return new Pool(origin, {
    connections,
    // Our own timer aborts each attempt; these are backstops should it ever be missed.
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    // Keep idle sockets a while: the edge calls often, and a fresh TLS handshake per call is slow.
    keepAliveTimeout: 30_000,
  });
}

export async function attempt(pool: Pool, request: HttpRequest): Promise<HttpAnswer> {
  // One timer for the whole exchange, body included: undici's own timeouts are per phase, so
  // a slow trickle of a body could otherwise run far past the call's budget.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, request.timeoutMs);
  try {
    const headers: Record<string, string> = { accept: 'application/json' };
    let body: string | undefined;
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.body);
    }
    const res = await pool.request({ method: request.method, path: request.path, headers, signal: controller.signal, ...(body !== undefined ? { body } : {}) });
    // Always read the body: an unread body keeps the keep-alive socket busy.
    const text = await res.body.text();
    if (res.statusCode >= 500) {
      const retryAfterMs = res.statusCode === 503 ? parseRetryAfter(res.headers['retry-after']) : null;
      throw new AttemptFailure('status5xx', `HTTP ${res.statusCode}: ${text.slice(0, 200)}`, res.statusCode, retryAfterMs);
    }
    return { status: res.statusCode, body: parseBody(res.statusCode, text), headers: res.headers };
  } catch (error) {
    if (error instanceof AttemptFailure) throw error;
    if (timedOut) throw new AttemptFailure('timeout', `no answer within ${request.timeoutMs} ms`);
    const code = (error as { code?: unknown }).code;
    if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      throw new AttemptFailure('timeout', `${String(code)}: ${(error as Error).message}`);
    }
    // Refused, reset, DNS, TLS, a closed socket: the service could not be reached or hung up.
    throw new AttemptFailure('connection', `${typeof code === 'string' ? `${code}: ` : ''}${(error as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

function parseBody(status: number, text: string): Record<string, unknown> {
  if (text.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // A 2xx we cannot read is no answer at all (a proxy's page, a truncated body): the call
    // must not pretend it succeeded. A 4xx we cannot read is still a 4xx: keep its status.
    if (status < 300) throw new AttemptFailure('connection', `HTTP ${status} with a body that is not JSON`);
    return { message: text.slice(0, 200) };
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  if (status < 300) throw new AttemptFailure('connection', `HTTP ${status} with a body that is not a JSON object`);
  return {};
}

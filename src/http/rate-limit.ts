/**
 * Per-member rate limit on the edge's /v1/members routes: a token bucket per member id (a
 * member may send `burst` requests at once, then `perMemberPerSecond` on average), kept in the
 * main thread in a bounded LRU so that many distinct ids cannot grow memory without bound (an
 * evicted member starts again with a full bucket). Past the limit: 429 RATE_LIMITED with
 * Retry-After, before the body is parsed or any worker is asked.
 *
 * Not @fastify/rate-limit: it counts fixed windows (max per timeWindow), which lets a client
 * send twice the limit across a window boundary and cannot express a rate with a burst.
 */
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { LRUCache } from 'lru-cache';
import { errorBody } from './error-handler.ts';
import { addRouteHook } from './route-hooks.ts';

export interface RateLimitSettings {
  perMemberPerSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #buckets: LRUCache<string, Bucket>;

  constructor(
    private readonly settings: RateLimitSettings,
    maxKeys = 100_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#buckets = new LRUCache<string, Bucket>({ max: maxKeys });
  }

  /** Takes one token for `key`: 0 when allowed, else the seconds until a token is available. */
  take(key: string): number {
    const { perMemberPerSecond: rate, burst } = this.settings;
    const at = this.now();
    // The get makes a known bucket the most recently used, and it is changed in place: only a
    // new bucket needs a set.
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: burst, at };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.at) / 1000) * rate);
    bucket.at = at;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
  }

  get size(): number {
    return this.#buckets.size;
  }
}

const MEMBER_ROUTES = '/v1/members/';

/**
 * Installs the limit on every route of `app` under /v1/members/:memberId (null: no limit), as
 * each is declared (call this before declaring them): other routes do not run it at all. A
 * route's own onRequest hooks run after the app's, where this hook ran before it was a route's.
 * `exempt`: requests already counted elsewhere (in a cluster, the node that forwarded them).
 */
export function installMemberRateLimit(app: FastifyInstance, settings: RateLimitSettings | null, exempt: (request: FastifyRequest) => boolean = () => false): void {
  if (settings === null) return;
  const buckets = new TokenBuckets(settings);
  // Synchronous: nothing here waits, and an async hook costs a promise per request.
  const limit: onRequestHookHandler = (request, reply, done) => {
    const memberId = (request.params as { memberId?: unknown } | undefined)?.memberId;
    const wait = typeof memberId === 'string' && !exempt(request) ? buckets.take(memberId) : 0;
    if (wait === 0) {
      done();
      return;
    }
    // Answered here; `done` is not called, so nothing after this hook runs.
    void reply
      .status(429)
      .header('retry-after', String(wait))
      .send(errorBody('RATE_LIMITED', `too many requests for this member; retry after ${wait} s`));
  };
  app.addHook('onRoute', (route) => {
    if (route.url?.startsWith(MEMBER_ROUTES)) addRouteHook(route, 'onRequest', limit);
  });
}

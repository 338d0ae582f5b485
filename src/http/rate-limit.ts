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
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { errorBody } from './error-handler.ts';

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
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at };
    bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.at) / 1000) * rate);
    bucket.at = at;
    this.#buckets.set(key, bucket);
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
 * Installs the limit on every route of `app` under /v1/members/:memberId (null: no limit).
 * `exempt`: requests already counted elsewhere (in a cluster, the node that forwarded them).
 */
export function installMemberRateLimit(app: FastifyInstance, settings: RateLimitSettings | null, exempt: (request: FastifyRequest) => boolean = () => false): void {
  if (settings === null) return;
  const buckets = new TokenBuckets(settings);
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.url?.startsWith(MEMBER_ROUTES)) return;
    if (exempt(request)) return;
    const memberId = (request.params as { memberId?: unknown } | undefined)?.memberId;
    if (typeof memberId !== 'string') return;
    const wait = buckets.take(memberId);
    if (wait === 0) return;
    return reply
      .status(429)
      .header('retry-after', String(wait))
      .send(errorBody('RATE_LIMITED', `too many requests for this member; retry after ${wait} s`));
  });
}

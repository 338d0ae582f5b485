/** The edge client: typed calls to the license service, with breaker, bounded retries and fallbacks. */
export { EdgeClient } from './edge-client.ts';
export type { BreakerOptions, EdgeClientOptions, RetryOptions } from './options.ts';
export { FALLBACK_COUNTER } from './telemetry.ts';
export * from './types.ts';

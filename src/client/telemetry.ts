/**
 * Counting and telling about fallbacks. A fallback is the client guessing on the member's
 * behalf, so every one is counted (stats() and a Prometheus counter), logged, and handed to
 * the caller's onFallback: an edge that silently falls back looks healthy while it is not.
 */
import { Counter, type Registry } from 'prom-client';
import { FALLBACK_CAUSES, type ClientLogger, type ClientStats, type FallbackCause, type FallbackEvent, type RouteName } from './types.ts';

export const FALLBACK_COUNTER = 'license_client_fallbacks_total';

/**
 * The counter on the given registry. Several clients may share a registry (one per service
 * instance they talk to, say): prom-client refuses a second metric with the same name, so the
 * first one is reused.
 */
function fallbackCounter(registry: Registry | undefined): Counter<'route' | 'cause'> {
  const existing = registry?.getSingleMetric(FALLBACK_COUNTER);
  if (existing) return existing as Counter<'route' | 'cause'>;
  return new Counter({
    name: FALLBACK_COUNTER,
    help: 'Edge client calls answered with the fallback instead of the service, by route and cause',
    labelNames: ['route', 'cause'],
    registers: registry ? [registry] : [],
  });
}

export class Telemetry {
  private calls = 0;
  private retries = 0;
  private readonly fallbacks: Record<FallbackCause, number> = { timeout: 0, connection: 0, status5xx: 0, breakerOpen: 0 };
  private readonly counter: Counter<'route' | 'cause'>;

  constructor(
    registry: Registry | undefined,
    private readonly logger: ClientLogger | undefined,
    private readonly onFallback: ((event: FallbackEvent) => void) | undefined,
  ) {
    this.counter = fallbackCounter(registry);
  }

  call(): void {
    this.calls += 1;
  }

  retry(route: RouteName, attempt: number, delayMs: number, error: string): void {
    this.retries += 1;
    this.logger?.info({ route, attempt, delayMs, err: error }, 'license client: retrying');
  }

  fallback(event: FallbackEvent): void {
    this.fallbacks[event.cause] += 1;
    this.counter.inc({ route: event.route, cause: event.cause });
    this.logger?.warn({ ...event }, `license client: answering the fallback for ${event.route} (${event.cause})`);
    try {
      this.onFallback?.(event);
    } catch (error) {
      // The caller's hook must not turn a fallback into a failure of the edge.
      this.logger?.warn({ route: event.route, err: (error as Error).message }, 'license client: onFallback threw');
    }
  }

  breakerChanged(state: 'open' | 'halfOpen' | 'closed'): void {
    const message =
      state === 'open'
        ? 'license client: breaker open, answering fallbacks without calling the service'
        : state === 'halfOpen'
          ? 'license client: breaker half-open, letting one probe through'
          : 'license client: breaker closed, calling the service again';
    if (state === 'open') this.logger?.warn({ breaker: state }, message);
    else this.logger?.info({ breaker: state }, message);
  }

  stats(breaker: ClientStats['breaker']): ClientStats {
    const total = FALLBACK_CAUSES.reduce((sum, cause) => sum + this.fallbacks[cause], 0);
    return { calls: this.calls, fallbacks: { ...this.fallbacks, total }, retries: this.retries, breaker };
  }
}

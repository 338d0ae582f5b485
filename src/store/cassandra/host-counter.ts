/**
 * The driver's per-request hook that counts requests and errors by host (host-view.ts). Apart
 * from host-view.ts because it loads the driver, which metrics code must not.
 */
import cassandra from 'cassandra-driver';
import type { HostCount } from './host-view.ts';

/**
 * The driver checks `instanceof` its own RequestTracker class, which its typings declare only as
 * an interface: the class, typed as the constructor it is.
 */
const TrackerBase = (cassandra.tracker as unknown as { RequestTracker: new () => object }).RequestTracker;

/**
 * Counts each request the driver completes by the host that served it (the driver's
 * RequestTracker hook: called once per request, after its retries, with the last host tried).
 */
export class HostCounter extends TrackerBase implements cassandra.tracker.RequestTracker {
  readonly counts = new Map<string, HostCount>();

  #entry(host: cassandra.Host | null | undefined): HostCount {
    // A request no host took (none reachable) has no host: counted apart.
    const address = typeof host?.address === 'string' ? host.address : 'none';
    let entry = this.counts.get(address);
    if (!entry) {
      entry = { requests: 0, errors: 0 };
      this.counts.set(address, entry);
    }
    return entry;
  }

  onSuccess(host: cassandra.Host): void {
    this.#entry(host).requests += 1;
  }

  onError(host: cassandra.Host): void {
    const entry = this.#entry(host);
    entry.requests += 1;
    entry.errors += 1;
  }

  shutdown(): void {}
}

/**
 * Load targets: base URLs of service nodes. Only loopback targets are accepted: a load test
 * from this tool must never reach a shared or production host by a slip of the flag, so the
 * address is checked literally (no DNS: a name other than `localhost` could resolve anywhere).
 */
import { isIPv4 } from 'node:net';

export class TargetRefusedError extends Error {
  override name = 'TargetRefusedError';
}

function isLoopbackHost(hostname: string): boolean {
  // URL keeps IPv6 literals in brackets and lower-cases names; it also normalises short or
  // hex IPv4 forms ("127.1", "0x7f.0.0.1") to dotted decimal before we look.
  if (hostname === 'localhost') return true;
  if (hostname === '[::1]') return true;
  if (isIPv4(hostname)) return hostname.split('.')[0] === '127';
  return false;
}

/** The origin ("http://127.0.0.1:3000") of a loopback base URL; throws TargetRefusedError otherwise. */
export function parseTarget(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new TargetRefusedError(`target "${input}" is not a URL (expected e.g. http://127.0.0.1:3000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TargetRefusedError(`target "${input}": only http and https are supported, not ${url.protocol}`);
  }
  if (!isLoopbackHost(url.hostname)) {
    throw new TargetRefusedError(`target "${input}" is not a loopback address: load tests may only hit 127.0.0.0/8, ::1 or localhost`);
  }
  if (url.username || url.password) throw new TargetRefusedError(`target "${input}": credentials in the URL are not supported`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new TargetRefusedError(`target "${input}": give the base URL only (scheme, host, port), the routes are /v1/...`);
  }
  return url.origin;
}

/** Checks every target before any is contacted; duplicates are refused (they would skew the round-robin). */
export function parseTargets(inputs: readonly string[]): string[] {
  if (inputs.length === 0) throw new TargetRefusedError('no target: give at least one --target http://127.0.0.1:<port>');
  const origins = inputs.map(parseTarget);
  const duplicate = origins.find((origin, index) => origins.indexOf(origin) !== index);
  if (duplicate) throw new TargetRefusedError(`target ${duplicate} is given twice`);
  return origins;
}

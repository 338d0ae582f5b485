/**
 * What an error answer may tell a client. Some codes carry the text of a lower layer's failure
 * (the Cassandra driver's, a peer's, a crashed worker's), which can name hosts, files or
 * statements: for those the client gets the catalog's words and the log keeps the text. Any
 * other message that still looks like a file path, a stack frame, CQL or a secret is replaced
 * the same way, so a new code path that forgets this cannot leak either.
 */
import { ERROR_CATALOG, isErrorCode, type ErrorCode } from './catalog.ts';

/** Codes whose message is built from another layer's error text. */
const WRAPPING: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['STORE_UNAVAILABLE', 'WORKER_FAILED', 'OWNER_UNREACHABLE', 'INTERNAL']);

/**
 * Absolute paths under the usual roots, module paths and source positions, stack frames, CQL
 * statements. Not any "/": URL paths (a 404 names the route) are fine to show.
 */
const LEAK =
  /(?:^|[\s'"(=:[])\/(?:work|home|tmp|root|usr|var|opt|etc|srv|app|proc|mnt|private|Users)\/|node_modules|file:\/\/|[A-Za-z]:\\|\.[cm]?[jt]sx?:\d|\n\s*at |^\s*at \S+ \(|\b(?:SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|BEGIN\s+(?:UNLOGGED\s+)?BATCH|CREATE\s+(?:TABLE|KEYSPACE)|ALTER\s+TABLE|DROP\s+(?:TABLE|KEYSPACE)|TRUNCATE\s)/is;

export interface PublicMessage {
  message: string;
  /** The original was withheld (log it). */
  withheld: boolean;
}

/** The message to answer `code` with; `secrets` (the admin token) must never appear either. */
export function publicMessage(code: string, message: string, secrets: readonly string[] = []): PublicMessage {
  const known = isErrorCode(code) ? code : 'INTERNAL';
  const leaks = WRAPPING.has(known) || LEAK.test(message) || secrets.some((secret) => secret.length > 0 && message.includes(secret));
  return leaks ? { message: ERROR_CATALOG[known].description, withheld: true } : { message, withheld: false };
}

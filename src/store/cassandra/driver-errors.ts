/**
 * Which cassandra-driver failures mean "the store is unavailable right now" (retryable, 503)
 * rather than a bug in our CQL (which must surface as-is).
 */
import cassandra from 'cassandra-driver';
import { StoreUnavailableError } from '../../errors/catalog.ts';

const { errors, types } = cassandra;
const codes = types.responseErrorCodes;
const UNAVAILABLE_RESPONSES = new Set<number>([
  codes.unavailableException,
  codes.overloaded,
  codes.isBootstrapping,
  codes.writeTimeout,
  codes.readTimeout,
  codes.readFailure,
  codes.writeFailure,
]);
// The driver types a response's code as a number, not as its enum: compared through sets of numbers.
const UNKNOWN_OUTCOME_RESPONSES = new Set<number>([codes.writeTimeout, codes.writeFailure]);
const NOT_SENT_RESPONSES = new Set<number>([codes.unavailableException, codes.overloaded, codes.isBootstrapping]);

/**
 * The connection closed under the request (the node died or restarted). The driver retries only
 * idempotent requests on another connection; a conditional write comes back as this error.
 * `requestNotWritten`: it never left this process, so it certainly did not apply.
 */
function socketError(error: unknown): { requestNotWritten: boolean } | null {
  if (!(error instanceof errors.DriverError)) return null;
  const flags = error as { isSocketError?: unknown; requestNotWritten?: unknown };
  return flags.isSocketError === true ? { requestNotWritten: flags.requestNotWritten === true } : null;
}

export function isUnavailable(error: unknown): boolean {
  if (error instanceof errors.NoHostAvailableError || error instanceof errors.OperationTimedOutError) return true;
  if (socketError(error)) return true;
  if (error instanceof errors.BusyConnectionError) return true;
  return error instanceof errors.ResponseError && UNAVAILABLE_RESPONSES.has(error.code);
}

/** A conditional write that timed out: it may or may not have been applied. */
export function isUnknownOutcome(error: unknown): boolean {
  if (error instanceof errors.OperationTimedOutError) return true;
  const socket = socketError(error);
  if (socket) return !socket.requestNotWritten;
  return error instanceof errors.ResponseError && UNKNOWN_OUTCOME_RESPONSES.has(error.code);
}

/** Failures that happen before a write reaches any replica: the write certainly did not apply. */
export function isNotSent(error: unknown): boolean {
  return (
    error instanceof errors.NoHostAvailableError ||
    error instanceof errors.BusyConnectionError ||
    socketError(error)?.requestNotWritten === true ||
    (error instanceof errors.ResponseError && NOT_SENT_RESPONSES.has(error.code))
  );
}

/** One line, without the stack traces the driver folds into NoHostAvailableError's message. */
export function describeDriverError(error: unknown): string {
  if (error instanceof errors.NoHostAvailableError) {
    const hosts = Object.entries((error.innerErrors as Record<string, unknown> | undefined) ?? {}).map(([host, inner]) => `${host}: ${(inner as Error).message ?? String(inner)}`);
    return `no host answered (${hosts.join('; ') || 'no hosts tried'})`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function unavailable(error: unknown, what: string, outcome: 'not-applied' | 'unknown' = isNotSent(error) ? 'not-applied' : 'unknown'): StoreUnavailableError {
  return new StoreUnavailableError(`event store unavailable during ${what}: ${describeDriverError(error)}`, {
    cause: error,
    outcome,
  });
}

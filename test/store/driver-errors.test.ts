/**
 * How driver failures are classed. The socket case is the one a killed node produces for a
 * conditional (non-idempotent) write: the driver does not retry it and hands back a plain
 * DriverError flagged isSocketError, which once surfaced as a 500 INTERNAL instead of a 503.
 */
import t from 'tap';
import cassandra from 'cassandra-driver';
import { isNotSent, isUnavailable, isUnknownOutcome, unavailable } from '../../src/store/cassandra/driver-errors.ts';

const { errors, types } = cassandra;
// The typings declare DriverError abstract; the driver itself constructs it (connection.js).
const DriverError = errors.DriverError as unknown as new (message: string) => Error;

function socketClosed(requestNotWritten: boolean): Error {
  const error = new DriverError('Socket was closed') as Error & { isSocketError?: boolean; requestNotWritten?: boolean };
  error.isSocketError = true;
  if (requestNotWritten) error.requestNotWritten = true;
  return error;
}

t.test('a socket closed after the request was written: unavailable, outcome unknown', async (t) => {
  const error = socketClosed(false);
  t.ok(isUnavailable(error));
  t.ok(isUnknownOutcome(error));
  t.notOk(isNotSent(error));
  t.equal(unavailable(error, 'append').outcome, 'unknown');
  t.equal(unavailable(error, 'append').code, 'STORE_UNAVAILABLE');
});

t.test('a socket closed before the request was written: unavailable, not applied', async (t) => {
  const error = socketClosed(true);
  t.ok(isUnavailable(error));
  t.notOk(isUnknownOutcome(error));
  t.ok(isNotSent(error));
  t.equal(unavailable(error, 'append').outcome, 'not-applied');
});

t.test('other driver errors keep their class', async (t) => {
  t.notOk(isUnavailable(new DriverError('some other failure')), 'a DriverError without the socket flag is not unavailability');
  t.notOk(isUnavailable(new errors.ResponseError(types.responseErrorCodes.syntaxError, 'bad CQL')), 'a CQL error is a bug, surfaced as-is');
  const noHost = new errors.NoHostAvailableError({});
  t.ok(isUnavailable(noHost));
  t.ok(isNotSent(noHost));
  const timeout = new errors.ResponseError(types.responseErrorCodes.writeTimeout, 'timeout');
  t.ok(isUnavailable(timeout));
  t.ok(isUnknownOutcome(timeout));
});

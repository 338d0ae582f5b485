/**
 * Slow clients cannot hold the service: a request's headers and the whole request must arrive
 * within their timeouts (then 408 REQUEST_TIMEOUT and the connection is closed), idle keep-alive
 * connections are closed, and connections past `maxConnections` are refused at once. While slow
 * connections fill the cap, connections already open (a load balancer's pool) are served as
 * usual; once the timeout cuts the slow ones, new connections are accepted again.
 */
import type { Socket } from 'node:net';
import t from 'tap';
import { ConfigError } from '../../src/config/load.ts';
import { createServer } from '../../src/server.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { testConfig, testRules } from '../support/fixtures.ts';
import { expectCatalogAnswer, KeepAlive, listening, openSocket, parseAnswer, plainGet, type RawAnswer } from './raw-http.ts';

const HEADERS_TIMEOUT = 1000;
const REQUEST_TIMEOUT = 1500;
/** Node looks for expired requests every headersTimeout / 10 (see http-server.ts); the rest is for a busy machine. */
const LATE_BY = 2000;

interface Slow {
  socket: Socket;
  openedAt: number;
  /** Resolves when the server closed it: the bytes it answered and when. */
  ended: Promise<{ answer: RawAnswer; afterMs: number }>;
}

/**
 * A client that sends its head (or part of it) and then one byte every `everyMs`, forever: the
 * socket is never idle, so only a deadline on the request as a whole can cut it.
 */
async function slowClient(port: number, head: string, trickle: string, everyMs = 150): Promise<Slow> {
  const socket = await openSocket(port);
  const openedAt = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const timer = setInterval(() => {
    if (socket.writable) socket.write(trickle);
  }, everyMs);
  const ended = new Promise<{ answer: RawAnswer; afterMs: number }>((resolve) => {
    socket.once('close', () => {
      clearInterval(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const afterMs = Date.now() - openedAt;
      resolve({ answer: { ...parseAnswer(raw), raw, closed: true, elapsedMs: afterMs }, afterMs });
    });
  });
  socket.write(head);
  return { socket, openedAt, ended };
}

const slowBodyHead = (port: number, memberId: string) =>
  `POST /v1/members/${memberId}/licenses HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"deviceId":"`;

const http = { headersTimeoutMs: HEADERS_TIMEOUT, requestTimeoutMs: REQUEST_TIMEOUT, keepAliveTimeoutMs: 20_000, socketTimeoutMs: 20_000 };

t.test('slow-body connections beyond the cap: open connections are served, the extra ones refused at once, the slow ones cut after the timeout', async (t) => {
  const cap = 8;
  const { edgePort: port } = await listening(t, { service: { http: { ...http, maxConnections: cap } } });
  const health = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;

  // An already open keep-alive connection, as a load balancer keeps a pool of them.
  const pooled = await KeepAlive.open(port);
  t.teardown(() => pooled.close());
  t.equal((await pooled.request(health)).status, 200, 'the pooled connection works');

  // Twice the cap of slow-body connections, one after the other.
  const slow: Slow[] = [];
  for (let i = 0; i < cap * 2; i++) slow.push(await slowClient(port, slowBodyHead(port, `slow-${i}`), 'a'));
  t.teardown(() => slow.forEach((each) => each.socket.destroy()));
  await new Promise((resolve) => setTimeout(resolve, 300));

  // While they are held: the pooled connection is answered at once, reads and commands alike.
  for (let i = 0; i < 5; i++) {
    const answer = await pooled.request(health);
    t.equal(answer.status, 200, `while the slow connections are held, request ${i + 1} on the pooled connection is answered`);
    t.ok(answer.ms < 1000, `and answered without waiting for them (${answer.ms} ms)`);
  }
  const body = '{"deviceId":"d1","titleId":"t"}';
  const acquire = await pooled.request(
    `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  t.equal(acquire.status, 201, 'a command on the pooled connection is served too');

  // A new connection while the cap is full is refused at once (closed, no answer), never left hanging.
  const refused = await plainGet(port);
  t.equal(refused.status, 0, 'a new connection past the cap gets no answer');
  t.ok(refused.closed && refused.elapsedMs < 1000, `it is closed at once (${refused.elapsedMs} ms), not queued`);

  const ends = await Promise.all(slow.map((each) => each.ended));
  const dropped = ends.filter((end) => end.answer.raw === '');
  const cut = ends.filter((end) => end.answer.status !== 0);
  t.equal(cut.length + dropped.length, slow.length, 'every slow connection was either refused at the cap or cut');
  t.equal(cut.length, cap - 1, `the cap held: ${cap - 1} slow connections got in beside the pooled one`);
  t.equal(dropped.length, slow.length - (cap - 1), 'the others were refused');
  t.ok(
    dropped.every((end) => end.afterMs < REQUEST_TIMEOUT / 2),
    `at once, long before any timeout (${dropped.map((end) => end.afterMs).join(', ')} ms)`,
  );
  for (const [i, end] of cut.entries()) {
    expectCatalogAnswer(t, end.answer, 408, 'REQUEST_TIMEOUT', `slow connection ${i + 1}`);
    t.ok(end.afterMs >= REQUEST_TIMEOUT - 100, `slow connection ${i + 1} held no less than the request timeout (${end.afterMs} ms)`);
    t.ok(end.afterMs <= REQUEST_TIMEOUT + LATE_BY, `and was cut soon after it (${end.afterMs} ms)`);
  }

  // Their slots are free again: new connections are served.
  const after = await plainGet(port);
  t.equal(after.status, 200, 'once the slow connections are cut, new connections are answered');
  t.equal((await pooled.request(health)).status, 200, 'and the pooled connection still is');
});

t.test('slow headers (slowloris) and a connection that never speaks are cut after the headers timeout', async (t) => {
  const { edgePort: port } = await listening(t, { service: { http: { ...http, maxConnections: 100 } } });
  const slowloris = await slowClient(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`, 'X-a: b\r\n', 100);
  const silent = await slowClient(port, '', '', 60_000);
  t.teardown(() => [slowloris, silent].forEach((each) => each.socket.destroy()));
  for (const [label, client] of [
    ['slow headers', slowloris],
    ['silent connection', silent],
  ] as const) {
    const { answer, afterMs } = await client.ended;
    expectCatalogAnswer(t, answer, 408, 'REQUEST_TIMEOUT', label);
    t.ok(afterMs >= HEADERS_TIMEOUT - 100 && afterMs <= HEADERS_TIMEOUT + LATE_BY, `${label}: cut after the headers timeout (${afterMs} ms)`);
  }
  t.equal((await plainGet(port)).status, 200, 'the server goes on');
});

t.test('an idle keep-alive connection is closed after keepAliveTimeoutMs', async (t) => {
  const { edgePort: port } = await listening(t, { service: { http: { ...http, keepAliveTimeoutMs: 500 } } });
  const connection = await KeepAlive.open(port);
  t.teardown(() => connection.close());
  const answer = await connection.request(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  t.equal(answer.status, 200);
  const started = Date.now();
  while (!connection.closed && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(connection.closed, `the idle connection was closed (${Date.now() - started} ms)`);
  // Node gives an idle keep-alive socket 1 s of grace past keepAliveTimeout.
  t.ok(Date.now() - started < 500 + 1000 + LATE_BY, 'soon after the keep-alive timeout');
});

t.test('a headers timeout longer than the request timeout is refused at start, naming both keys', async (t) => {
  const config = testConfig(testRules(), { http: { ...testConfig().service.http, headersTimeoutMs: 5000, requestTimeoutMs: 1000 } });
  await t.rejects(createServer(config, { store: new SqliteEventStore(':memory:'), watchRules: false }), ConfigError);
  await t.rejects(createServer(config, { store: new SqliteEventStore(':memory:'), watchRules: false }), { message: /headersTimeoutMs.*requestTimeoutMs/ });
});

t.test('a client that stops reading its answers is cut after socketTimeoutMs', async (t) => {
  const socketTimeout = 1000;
  const { server, edgePort: port } = await listening(t, { service: { http: { ...http, socketTimeoutMs: socketTimeout } } });
  const open = () => new Promise<number>((resolve, reject) => server.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  const reader = await openSocket(port);
  reader.on('error', () => {});
  t.teardown(() => reader.destroy());
  reader.pause(); // reads nothing: the answers pile up until the buffers are full
  // 40 pipelined requests for a 1.6 MB file: far more than the socket buffers hold.
  reader.write(`GET /docs/static/swagger-ui-bundle.js HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`.repeat(40));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(await open(), 1, 'the connection is open, its answers stalled');
  const started = Date.now();
  while ((await open()) > 0 && Date.now() - started < socketTimeout + LATE_BY + 2000) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(await open(), 0, `the server closed it (${Date.now() - started} ms after the stall began)`);
  t.equal((await plainGet(port)).status, 200, 'and goes on serving');
});

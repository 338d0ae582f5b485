/**
 * For the hostile HTTP tests: a real listening server (edge, and admin when asked), bytes
 * written raw to a socket (no client library tidying them up), and the answer read back as
 * bytes. Not a test file by itself.
 */
import { connect, type Socket } from 'node:net';
import type { Test } from 'tap';
import type { ServiceConfig } from '../../src/config/types.ts';
import { ERROR_CATALOG, isErrorCode } from '../../src/errors/catalog.ts';
import type { EventStore } from '../../src/store/event-store.ts';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from '../support/fixtures.ts';

export interface Listening {
  server: TestServer;
  edgePort: number;
  /** The admin listener's port, when `service.admin.port` was set. */
  adminPort: number | null;
}

type ServiceOverrides = Partial<Omit<ServiceConfig, 'http' | 'admin'>> & {
  http?: Partial<ServiceConfig['http']>;
  admin?: Partial<ServiceConfig['admin']>;
};

/** The service on loopback port 0 (and admin port 0 when `separateAdmin`), closed at teardown. */
export async function listening(
  t: Test,
  options: { service?: ServiceOverrides; separateAdmin?: boolean; store?: EventStore; adminToken?: string | null } = {},
): Promise<Listening> {
  const service = {
    ...options.service,
    host: '127.0.0.1',
    port: 0,
    admin: { token: TEST_ADMIN_TOKEN, ...options.service?.admin, ...(options.separateAdmin ? { port: 0 } : {}) },
  } as Partial<ServiceConfig>;
  const server = await startTestServer({
    service,
    ...(options.store ? { store: options.store } : {}),
    ...(options.adminToken !== undefined ? { adminToken: options.adminToken } : {}),
  });
  t.teardown(() => server.close());
  const addresses = await server.listen();
  return { server, edgePort: Number(new URL(addresses.edge).port), adminPort: addresses.admin ? Number(new URL(addresses.admin).port) : null };
}

export interface RawAnswer {
  /** 0 when nothing that looks like a status line came back. */
  status: number;
  headers: Map<string, string[]>;
  body: string;
  /** Every byte received, as latin1. */
  raw: string;
  /** The server closed the connection (before the wait ran out). */
  closed: boolean;
  /** Milliseconds from the first byte written to the close (or to the end of the wait). */
  elapsedMs: number;
}

/** Parses the first HTTP/1.1 answer in `raw` (Content-Length bodies only: all ours have one). */
export function parseAnswer(raw: string): Pick<RawAnswer, 'status' | 'headers' | 'body'> {
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = headEnd >= 0 ? raw.slice(0, headEnd) : raw;
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  let body = headEnd >= 0 ? raw.slice(headEnd + 4) : '';
  const length = Number(headers.get('content-length')?.[0] ?? NaN);
  if (Number.isInteger(length)) body = Buffer.from(body, 'latin1').subarray(0, length).toString('utf8');
  return { status, headers, body };
}

export function openSocket(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Writes `bytes` on a fresh connection and reads until the server closes it or `waitMs` passes
 * (the connection is then closed by us). `bytes` may be several writes, sent apart by `gapMs`.
 */
export async function rawExchange(port: number, bytes: string | Buffer | (string | Buffer)[], options: { waitMs?: number; gapMs?: number } = {}): Promise<RawAnswer> {
  const waitMs = options.waitMs ?? 3000;
  const parts = Array.isArray(bytes) ? bytes : [bytes];
  const socket = await openSocket(port);
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {}); // a reset after the answer is fine: the answer is what counts
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  void (async () => {
    for (const [i, part] of parts.entries()) {
      if (i > 0 && options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
      if (!socket.writable) return;
      socket.write(part);
    }
  })();
  const wasClosed = await closed;
  const elapsedMs = Date.now() - started;
  socket.destroy();
  const raw = Buffer.concat(chunks).toString('latin1');
  return { ...parseAnswer(raw), raw, closed: wasClosed, elapsedMs };
}

/** A plain request on a fresh connection, closed after the answer. */
export function plainGet(port: number, path = '/healthz', headers: Record<string, string> = {}): Promise<RawAnswer> {
  const lines = Object.entries({ Host: `127.0.0.1:${port}`, Connection: 'close', ...headers }).map(([name, value]) => `${name}: ${value}\r\n`);
  return rawExchange(port, `GET ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
}

/**
 * The answer is a catalog error: this status, `Content-Type: application/json`, a body that is
 * exactly `{code, message}` (plus `field` where one is named) with this code, whose catalog
 * status is the HTTP status.
 */
export function expectCatalogAnswer(t: Test, answer: RawAnswer, status: number, code: string, label: string): Record<string, unknown> {
  t.equal(answer.status, status, `${label}: status ${status}`, { raw: answer.raw.slice(0, 400) });
  t.match(answer.headers.get('content-type')?.[0] ?? '', /^application\/json/, `${label}: JSON`);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    t.fail(`${label}: the body is JSON (${JSON.stringify(answer.body.slice(0, 200))})`);
  }
  t.equal(body['code'], code, `${label}: code ${code}`);
  t.ok(isErrorCode(body['code']), `${label}: the code is in the catalog`);
  if (isErrorCode(body['code'])) t.equal(ERROR_CATALOG[body['code']].status, answer.status, `${label}: the catalog's status for ${String(body['code'])}`);
  t.match(body['message'], /\S/, `${label}: a message`);
  t.same(
    Object.keys(body).filter((key) => key !== 'field'),
    ['code', 'message'],
    `${label}: {code, message} and nothing else`,
  );
  return body;
}

/** A request on the server still gets its normal answer. */
export async function expectStillServing(t: Test, port: number, label: string, path = '/healthz', headers: Record<string, string> = {}): Promise<void> {
  const answer = await plainGet(port, path, headers);
  t.equal(answer.status, 200, `${label}: a normal request is still answered`, { raw: answer.raw.slice(0, 400) });
}

/** One keep-alive connection, one request at a time, each answer read whole (Content-Length). */
export class KeepAlive {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiting: (() => void) | null = null;
  closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiting?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#waiting?.();
    });
  }

  static async open(port: number): Promise<KeepAlive> {
    return new KeepAlive(await openSocket(port));
  }

  /** Sends one request and resolves with its answer (status 0 if the connection closed first, or after `waitMs`). */
  async request(bytes: string, waitMs = 3000): Promise<RawAnswer & { ms: number }> {
    const started = Date.now();
    this.#socket.write(bytes);
    const deadline = started + waitMs;
    for (;;) {
      const raw = this.#buffer.toString('latin1');
      const headEnd = raw.indexOf('\r\n\r\n');
      if (headEnd >= 0) {
        const parsed = parseAnswer(raw);
        const length = Number(parsed.headers.get('content-length')?.[0] ?? 0);
        const total = headEnd + 4 + length;
        if (this.#buffer.length >= total) {
          const whole = this.#buffer.subarray(0, total).toString('latin1');
          this.#buffer = this.#buffer.subarray(total);
          return { ...parseAnswer(whole), raw: whole, closed: this.closed, elapsedMs: Date.now() - started, ms: Date.now() - started };
        }
      }
      if (this.closed || Date.now() >= deadline) {
        return { status: 0, headers: new Map(), body: '', raw, closed: this.closed, elapsedMs: Date.now() - started, ms: Date.now() - started };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiting = null;
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** One request on a fresh connection (closed after the answer), with a body when given. */
export function rawRequest(port: number, method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<RawAnswer> {
  const headers: Record<string, string> = { Host: `127.0.0.1:${port}`, Connection: 'close', ...options.headers };
  if (options.body !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(options.body));
  }
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return rawExchange(port, `${method} ${path} HTTP/1.1\r\n${head}\r\n${options.body ?? ''}`);
}

/**
 * Helpers for the edge client tests: a live service on a loopback port, tiny stub servers that
 * count their hits (slow, failing, scripted), an unused port, and a client closed at teardown.
 * Not a test file by itself. Everything listens on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { Registry } from 'prom-client';
import { EdgeClient } from '../../src/client/index.ts';
import type { EdgeClientOptions } from '../../src/client/options.ts';
import { FALLBACK_COUNTER } from '../../src/client/telemetry.ts';
import { startTestServer, type TestServer } from '../support/fixtures.ts';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The real service (embedded SQLite, manual clock at T0, in-process members) on a loopback port. */
export async function liveService(t: Test): Promise<{ server: TestServer; baseUrl: string }> {
  const server = await startTestServer({ service: { host: '127.0.0.1', port: 0 } });
  t.teardown(() => server.close());
  const { edge } = await server.listen();
  return { server, baseUrl: edge };
}

export interface StubRequest {
  method: string;
  url: string;
  body: string;
  hit: number;
}

export type StubHandler = (req: StubRequest, res: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

export interface Stub {
  baseUrl: string;
  /** Requests the stub received, in order. */
  requests: StubRequest[];
  hits(): number;
  /** Replace the handler (e.g. a failing service gets healthy). */
  handle(handler: StubHandler): void;
  /** Run later unless the test is over (delayed answers must not outlive the test). */
  later(ms: number, fn: () => void): void;
}

/** A node:http server on 127.0.0.1 that records every request and answers with `handler`. */
export async function stubServer(t: Test, handler: StubHandler): Promise<Stub> {
  let current = handler;
  const requests: StubRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => chunks.push(chunk));
    raw.on('end', () => {
      const req: StubRequest = { method: raw.method ?? '', url: raw.url ?? '', body: Buffer.concat(chunks).toString('utf8'), hit: requests.length + 1 };
      requests.push(req);
      Promise.resolve(current(req, res, raw)).catch((error: unknown) => {
        if (!res.headersSent) json(res, 599, { code: 'STUB_FAILED', message: String(error) });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const timer of timers) clearTimeout(timer);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    hits: () => requests.length,
    handle: (next) => {
      current = next;
    },
    later: (ms, fn) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    },
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return; // the client gave up already
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/** A loopback port nothing listens on: bound, then released (connections to it are refused). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A client closed at teardown; a fresh registry unless given. */
export function edgeClient(t: Test, options: Partial<EdgeClientOptions> & { baseUrl: string }): { client: EdgeClient; registry: Registry } {
  const registry = options.registry ?? new Registry();
  const client = new EdgeClient({ ...options, registry });
  t.teardown(() => client.close());
  return { client, registry };
}

/** The counter's value for one route and cause (0 when never incremented). */
export async function fallbackCount(registry: Registry, route: string, cause: string): Promise<number> {
  const metric = registry.getSingleMetric(FALLBACK_COUNTER);
  if (!metric) throw new Error(`${FALLBACK_COUNTER} is not registered`);
  const { values } = await metric.get();
  return values.find((v) => v.labels['route'] === route && v.labels['cause'] === cause)?.value ?? 0;
}

/** A logger that keeps what it is told. */
export function recordingLogger(): {
  warn: (obj: Record<string, unknown>, msg?: string) => void;
  info: (obj: Record<string, unknown>, msg?: string) => void;
  lines: { level: string; obj: Record<string, unknown>; msg: string }[];
} {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    warn: (obj, msg = '') => lines.push({ level: 'warn', obj, msg }),
    info: (obj, msg = '') => lines.push({ level: 'info', obj, msg }),
  };
}

/** Polls until `done()` or the bound passes; returns whether it came true. */
export async function eventually(done: () => boolean, withinMs: number): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return done();
}

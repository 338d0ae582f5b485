/**
 * The Node HTTP server under each fastify app. Two jobs: bound what one connection can hold
 * (time to send a request, idle time, head size, connections at once), and answer every request
 * that never reaches a route (Node's parser refused it, or it fails a check made before routing)
 * with a catalog body, as every other error is answered. docs/security.md has the reasons.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError } from '../config/load.ts';
import type { HttpConfig } from '../config/types.ts';
import { ERROR_CATALOG, type ErrorCode } from '../errors/catalog.ts';

export type HttpLimits = Omit<HttpConfig, 'docs' | 'metrics'>;

interface Refusal {
  code: ErrorCode;
  message: string;
  headers?: Record<string, string>;
}

/** Node refuses to start a server whose headers may take longer than the whole request. */
export function checkHttpLimits(limits: HttpLimits): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new ConfigError(`service.http.headersTimeoutMs (${limits.headersTimeoutMs}) must not be more than service.http.requestTimeoutMs (${limits.requestTimeoutMs})`);
  }
}

function bodyOf(code: ErrorCode, message: string): string {
  return JSON.stringify({ code, message });
}

/** A complete HTTP/1.1 answer as bytes, for a socket no ServerResponse can write to any more. */
function rawAnswer({ code, message, headers = {} }: Refusal): string {
  const status = ERROR_CATALOG[code].status;
  const body = bodyOf(code, message);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`
  );
}

/** The response Node is writing on this socket, if any (Node's own clientError default reads it too). */
function responseInFlight(socket: Socket): ServerResponse | null {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
}

/**
 * Writes the answer and closes: after a parse error nothing more can be read from this socket.
 * When the fault is in a request pipelined behind a complete one, that one is answered first.
 */
function answerOnSocket(socket: Socket, refusal: Refusal): void {
  const inFlight = responseInFlight(socket);
  if (inFlight?.req?.complete) {
    inFlight.once('finish', () => answerOnSocket(socket, refusal));
    return;
  }
  // A response already begun cannot be followed by another one.
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  socket.end(rawAnswer(refusal), () => socket.destroy());
}

function answerOnResponse(res: ServerResponse, refusal: Refusal): void {
  const body = bodyOf(refusal.code, refusal.message);
  res.writeHead(ERROR_CATALOG[refusal.code].status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
    ...refusal.headers,
  });
  res.end(body);
}

/** llhttp's reason, e.g. "Invalid method encountered": fixed texts, kept to plain characters anyway. */
function parserReason(error: Error): string {
  return error.message
    .replace(/^Parse Error: /, '')
    .replace(/[^A-Za-z0-9 ,.'`-]/g, '')
    .slice(0, 120);
}

/** What Node's parser (or its request timer) refused, in the catalog's terms. */
export function clientErrorRefusal(error: Error & { code?: string }, limits: HttpLimits): Refusal {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', message: `the request line and headers are over ${limits.maxHeaderBytes} bytes` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        code: 'REQUEST_TIMEOUT',
        message: `the request did not arrive in time (headers within ${limits.headersTimeoutMs} ms, all of it within ${limits.requestTimeoutMs} ms)`,
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { code: 'BODY_TOO_LARGE', message: 'the chunk extensions are too large' };
    case 'HPE_PAUSED_H2_UPGRADE':
      return { code: 'MALFORMED_REQUEST', message: 'this service speaks HTTP/1.1 only (the HTTP/2 preface came)' };
    case 'HPE_INVALID_METHOD':
      return { code: 'MALFORMED_REQUEST', message: 'the request line is not valid: unknown method (methods are case-sensitive, e.g. GET)' };
    default: {
      const what = error.code?.startsWith('HPE_') ? parserReason(error) : '';
      return { code: 'MALFORMED_REQUEST', message: `the request is not valid HTTP/1.1${what ? `: ${what}` : ''}` };
    }
  }
}

/** fastify's `clientErrorHandler`: Node's parser gave up on this connection. */
export function clientErrorHandler(limits: HttpLimits, log: () => FastifyBaseLogger): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    // The peer went away (reset, or closed mid-request): nobody to answer.
    if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE' || socket.destroyed) {
      socket.destroy();
      return;
    }
    log().debug({ code: error.code }, 'malformed request refused before routing');
    answerOnSocket(socket, clientErrorRefusal(error, limits));
  };
}

/** Checks Node leaves to the application, made before routing. */
export function requestRefusal(req: IncomingMessage, limits: HttpLimits): Refusal | null {
  // Node reads the request target as one byte per character.
  if ((req.url ?? '').length > limits.maxUrlBytes) {
    return { code: 'URI_TOO_LONG', message: `the URL is over ${limits.maxUrlBytes} bytes` };
  }
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    // The length first: most headers are not four characters long, and need no lower-casing.
    if (name?.length === 4 && name.toLowerCase() === 'host') hosts += 1;
  }
  // RFC 9112 3.2: a request with no Host (HTTP/1.1) or with several is answered 400. Node keeps
  // the first of several, and a proxy in front may have routed on another one.
  if (hosts > 1) return { code: 'MALFORMED_REQUEST', message: 'the request has more than one Host header' };
  if (hosts === 0 && req.httpVersion === '1.1') return { code: 'MALFORMED_REQUEST', message: 'an HTTP/1.1 request needs a Host header' };
  return null;
}

/** Logs connections refused at the cap, at most once a second (a flood would flood the log). */
function dropLogger(log: () => FastifyBaseLogger, maxConnections: number): () => void {
  let dropped = 0;
  let timer: NodeJS.Timeout | null = null;
  return () => {
    dropped += 1;
    if (timer) return;
    timer = setTimeout(() => {
      log().warn({ dropped, maxConnections }, 'connections refused: service.http.maxConnections reached');
      dropped = 0;
      timer = null;
    }, 1000);
    timer.unref();
  };
}

/**
 * fastify's `serverFactory`: the server with the limits set. The Host check is ours rather than
 * Node's (requireHostHeader), whose 400 has an empty body.
 */
export function httpServerFactory(limits: HttpLimits, log: () => FastifyBaseLogger) {
  return (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const server = createServer(
      {
        maxHeaderSize: limits.maxHeaderBytes,
        requireHostHeader: false,
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        // How often Node looks for requests past those two: often enough to cut them on time.
        connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headersTimeoutMs / 10))),
        // Spelled out: these two defaults are what keeps request smuggling out.
        insecureHTTPParser: false,
        joinDuplicateHeaders: false,
      },
      (req, res) => {
        const refusal = requestRefusal(req, limits);
        if (refusal) answerOnResponse(res, refusal);
        else handler(req, res);
      },
    );
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.maxConnections = limits.maxConnections;
    // A socket with no byte either way for this long is destroyed (a client that stopped reading).
    server.setTimeout(limits.socketTimeoutMs);
    server.on('drop', dropLogger(log, limits.maxConnections));
    // Without a listener Node answers an unsupported Expect with an empty 417.
    server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
      answerOnResponse(res, { code: 'EXPECTATION_FAILED', message: 'only "Expect: 100-continue" is supported' }),
    );
    // Without a listener Node closes a CONNECT without a word. This is not a proxy.
    server.on('connect', (_req: IncomingMessage, socket: Socket) =>
      answerOnSocket(socket, { code: 'METHOD_NOT_ALLOWED', message: 'CONNECT is not supported: this service is not a proxy', headers: { Allow: '' } }),
    );
    // An accept that fails (out of memory or file descriptors, where libuv's reserve descriptor
    // does not cover it) is an 'error' event, which would end the process without a listener.
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (server.listening) log().error({ err: error }, 'HTTP server error; the server goes on');
    });
    return server;
  };
}

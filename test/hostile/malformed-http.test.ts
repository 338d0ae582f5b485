/**
 * Malformed HTTP written raw to a socket of a real listening server: every request Node's parser
 * refuses, or that fails a check made before routing, is answered with a catalog body
 * `{code, message}` and a fitting status, and the server goes on serving.
 */
import t from 'tap';
import { TEST_ADMIN_TOKEN } from '../support/fixtures.ts';
import { expectCatalogAnswer, expectStillServing, listening, plainGet, rawExchange, type RawAnswer } from './raw-http.ts';

const JSON_TYPE = 'Content-Type: application/json\r\n';
const ACQUIRE = '{"deviceId":"d1","titleId":"t"}';

interface Case {
  name: string;
  bytes: (host: string) => string;
  status: number;
  code: string;
}

/** Requests Node's parser (llhttp, strict mode) or our pre-routing checks refuse. */
const REFUSED: Case[] = [
  { name: 'a request line that is not one', bytes: () => 'GARBAGE\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'a lowercase method', bytes: (h) => `get /healthz HTTP/1.1\r\nHost: ${h}\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'an unknown method', bytes: (h) => `FROB /healthz HTTP/1.1\r\nHost: ${h}\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'a NUL in the URL', bytes: (h) => `GET /healthz\0 HTTP/1.1\r\nHost: ${h}\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'an unknown HTTP version', bytes: (h) => `GET /healthz HTTP/7.3\r\nHost: ${h}\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'the HTTP/2 preface on an HTTP/1.1 port', bytes: () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'a 16 KiB URL', bytes: (h) => `GET /v1/members/${'a'.repeat(16 * 1024)}/licenses HTTP/1.1\r\nHost: ${h}\r\n\r\n`, status: 414, code: 'URI_TOO_LONG' },
  { name: 'a 16 KiB query string', bytes: (h) => `GET /healthz?${'q=1&'.repeat(4096)} HTTP/1.1\r\nHost: ${h}\r\n\r\n`, status: 414, code: 'URI_TOO_LONG' },
  { name: 'a 40 KiB URL (the head is over maxHeaderBytes)', bytes: (h) => `GET /${'a'.repeat(40 * 1024)} HTTP/1.1\r\nHost: ${h}\r\n\r\n`, status: 431, code: 'HEADERS_TOO_LARGE' },
  { name: 'a 40 KiB header value', bytes: (h) => `GET /healthz HTTP/1.1\r\nHost: ${h}\r\nX-Big: ${'b'.repeat(40 * 1024)}\r\n\r\n`, status: 431, code: 'HEADERS_TOO_LARGE' },
  { name: '5,000 small headers', bytes: (h) => `GET /healthz HTTP/1.1\r\nHost: ${h}\r\n${'X-N: 12345678\r\n'.repeat(5000)}\r\n`, status: 431, code: 'HEADERS_TOO_LARGE' },
  {
    name: 'two Content-Length headers (same value)',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  {
    name: 'two Content-Length headers (different values)',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  {
    name: 'a negative Content-Length',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Content-Length: -1\r\n\r\n{}`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  {
    name: 'a Content-Length that is not a number',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Content-Length: 2x\r\n\r\n{}`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  {
    name: 'Content-Length with chunked',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  {
    name: 'a transfer coding other than chunked',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Transfer-Encoding: gzip\r\n\r\n{}`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  {
    name: 'a chunk size that is not hex',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    status: 400,
    code: 'MALFORMED_REQUEST',
  },
  { name: 'a bare LF ending the request line', bytes: (h) => `GET /healthz HTTP/1.1\nHost: ${h}\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'a bare LF ending a header', bytes: (h) => `GET /healthz HTTP/1.1\r\nHost: ${h}\nX-A: b\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'a folded header (obs-fold)', bytes: (h) => `GET /healthz HTTP/1.1\r\nHost: ${h}\r\nX-A: b\r\n  c\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'a space in a header name', bytes: (h) => `GET /healthz HTTP/1.1\r\nHost: ${h}\r\nX A: b\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'no Host on HTTP/1.1', bytes: () => 'GET /healthz HTTP/1.1\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
  { name: 'two Host headers', bytes: (h) => `GET /healthz HTTP/1.1\r\nHost: ${h}\r\nHost: elsewhere.example\r\n\r\n`, status: 400, code: 'MALFORMED_REQUEST' },
  {
    name: 'an unsupported Expect',
    bytes: (h) => `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${h}\r\n${JSON_TYPE}Content-Length: 2\r\nExpect: teapot\r\n\r\n{}`,
    status: 417,
    code: 'EXPECTATION_FAILED',
  },
  { name: 'CONNECT (not a proxy)', bytes: () => 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', status: 405, code: 'METHOD_NOT_ALLOWED' },
  { name: 'a known method the path does not have', bytes: (h) => `PROPFIND /healthz HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 405, code: 'METHOD_NOT_ALLOWED' },
  { name: 'a known method on no path at all', bytes: (h) => `PROPFIND /nowhere HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`, status: 404, code: 'ROUTE_NOT_FOUND' },
];

t.test('every malformed request gets a catalog answer, and the server goes on', async (t) => {
  const { edgePort } = await listening(t);
  const host = `127.0.0.1:${edgePort}`;
  for (const c of REFUSED) {
    const answer = await rawExchange(edgePort, c.bytes(host));
    expectCatalogAnswer(t, answer, c.status, c.code, c.name);
    // Nothing more can be read on that connection: it is closed, not left hanging.
    t.ok(answer.closed, `${c.name}: the connection is closed`, { elapsedMs: answer.elapsedMs });
    await expectStillServing(t, edgePort, c.name);
  }
});

t.test('405 says which methods the path has; 404 stays for paths with none', async (t) => {
  const { edgePort } = await listening(t);
  const host = `127.0.0.1:${edgePort}`;
  const cases: [string, string, string][] = [
    ['DELETE', '/healthz', 'GET, HEAD'],
    ['PUT', '/v1/members/m1/licenses', 'GET, HEAD, POST'],
    ['GET', '/v1/members/m1/licenses/L1/renew', 'POST'],
    ['PATCH', '/v1/admin/rules', 'GET, HEAD'],
  ];
  for (const [method, path, allow] of cases) {
    const answer = await rawExchange(edgePort, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expectCatalogAnswer(t, answer, 405, 'METHOD_NOT_ALLOWED', `${method} ${path}`);
    t.equal(answer.headers.get('allow')?.[0], allow, `${method} ${path}: Allow: ${allow}`);
  }
  const missing = await rawExchange(edgePort, `GET /v1/nothing-here HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  expectCatalogAnswer(t, missing, 404, 'ROUTE_NOT_FOUND', 'GET on no route');
});

t.test('well-formed edge cases are served normally', async (t) => {
  const { edgePort } = await listening(t);
  const host = `127.0.0.1:${edgePort}`;
  // The controls: the same framing, valid, is accepted, so the refusals above are about the fault.
  const chunked = await rawExchange(
    edgePort,
    `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: ${host}\r\n${JSON_TYPE}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `${Buffer.byteLength(ACQUIRE).toString(16)}\r\n${ACQUIRE}\r\n0\r\n\r\n`,
  );
  t.equal(chunked.status, 201, `a valid chunked body is accepted (${chunked.raw.slice(0, 200)})`);
  const http10 = await rawExchange(edgePort, 'GET /healthz HTTP/1.0\r\n\r\n');
  t.equal(http10.status, 200, 'HTTP/1.0 needs no Host');
  const expectContinue = await rawExchange(
    edgePort,
    [
      `POST /v1/members/m2/licenses HTTP/1.1\r\nHost: ${host}\r\n${JSON_TYPE}Content-Length: ${Buffer.byteLength(ACQUIRE)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      ACQUIRE,
    ],
    { gapMs: 100 },
  );
  t.match(expectContinue.raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /, 'Expect: 100-continue is honoured');
  const nearLimit = await plainGet(edgePort, `/healthz?pad=${'p'.repeat(8000)}`);
  t.equal(nearLimit.status, 200, 'a URL just under maxUrlBytes is routed');
  const manyHeaders = await plainGet(edgePort, '/healthz', Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`X-H${i}`, 'v'])));
  t.equal(manyHeaders.status, 200, '500 headers within maxHeaderBytes are fine');
  const longValue = await plainGet(edgePort, '/healthz', { 'X-Long': 'v'.repeat(20_000) });
  t.equal(longValue.status, 200, 'a 20 KB header value within maxHeaderBytes is fine');
});

t.test('a malformed request after a good one on the same connection: the good one is answered, then a catalog 400', async (t) => {
  const { edgePort } = await listening(t);
  const answer: RawAnswer = await rawExchange(edgePort, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${edgePort}\r\n\r\nGARBAGE\r\n\r\n`);
  t.match(answer.raw, /^HTTP\/1\.1 200 /, 'the first request is answered');
  const second = answer.raw.indexOf('HTTP/1.1 400 ');
  t.ok(second > 0, 'then the malformed one gets a 400');
  t.match(answer.raw.slice(second), /"code":"MALFORMED_REQUEST"/, 'with the catalog body');
  t.ok(answer.closed, 'and the connection is closed');
  await expectStillServing(t, edgePort, 'after the pipelined refusal');
});

t.test('the admin port speaks the catalog too', async (t) => {
  const { adminPort } = await listening(t, { separateAdmin: true });
  if (adminPort === null) throw new Error('no admin port');
  const host = `127.0.0.1:${adminPort}`;
  for (const c of REFUSED.filter((each) => ['a lowercase method', 'a 16 KiB URL', 'a 40 KiB header value', 'no Host on HTTP/1.1', 'an unsupported Expect'].includes(each.name))) {
    expectCatalogAnswer(t, await rawExchange(adminPort, c.bytes(host)), c.status, c.code, `admin port: ${c.name}`);
  }
  await expectStillServing(t, adminPort, 'admin port', '/v1/admin/rules', { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
});

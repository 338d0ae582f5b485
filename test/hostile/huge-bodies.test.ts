/**
 * Huge and deep bodies, written raw to a real listening server: over the size limit is 413
 * BODY_TOO_LARGE (with or without a Content-Length), deep nesting and huge arrays within the
 * limit are a quick 400, never a 500, a stack overflow or a stall, and the server goes on.
 */
import t, { type Test } from 'tap';
import { expectCatalogAnswer, expectStillServing, listening, rawExchange, type RawAnswer } from './raw-http.ts';

const LIMIT = 64 * 1024;

function post(port: number, path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const head = Object.entries({ Host: `127.0.0.1:${port}`, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return rawExchange(port, [`POST ${path} HTTP/1.1\r\n${head}\r\n`, body], { waitMs: 10_000 });
}

/** A quick catalog 4xx: bounded in time, whatever the body was. */
function expectQuick(t: Test, answer: RawAnswer, status: number, code: string, label: string): void {
  expectCatalogAnswer(t, answer, status, code, label);
  t.ok(answer.elapsedMs < 5000, `${label}: answered in ${answer.elapsedMs} ms`);
}

t.test('bodies over bodyLimitBytes are 413, announced or streamed', async (t) => {
  const { edgePort: port } = await listening(t, { service: { bodyLimitBytes: LIMIT } });
  const big = `{"deviceId":"d1","titleId":"t","pad":"${'x'.repeat(LIMIT * 4)}"}`;
  expectQuick(t, await post(port, '/v1/members/m1/licenses', big), 413, 'BODY_TOO_LARGE', 'a Content-Length over the limit');

  // Only the head, announcing 1 GiB: refused from the head alone, without waiting for the body.
  const announced = await rawExchange(
    port,
    `POST /v1/members/m1/licenses HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${2 ** 30}\r\nConnection: close\r\n\r\n{"deviceId":`,
    { waitMs: 5000 },
  );
  expectQuick(t, announced, 413, 'BODY_TOO_LARGE', 'a 1 GiB Content-Length, body never sent');

  // Chunked: no length up front, refused once the bytes received pass the limit.
  const chunk = 'x'.repeat(16 * 1024);
  const chunks = [`POST /v1/members/m1/licenses HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`];
  for (let i = 0; i < 16; i++) chunks.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
  chunks.push('0\r\n\r\n');
  expectQuick(t, await rawExchange(port, chunks, { waitMs: 10_000 }), 413, 'BODY_TOO_LARGE', 'a chunked body growing past the limit');
  await expectStillServing(t, port, 'after the big bodies');
});

t.test('deep nesting within the limit is a quick 400, never a stack overflow', async (t) => {
  const { edgePort: port } = await listening(t, { service: { bodyLimitBytes: 1024 * 1024 } });
  const depth = 100_000;
  const cases: [string, string, string, number][] = [
    ['100k unclosed [', '['.repeat(depth), 'INVALID_JSON', 400],
    ['100k nested arrays, valid JSON', `${'['.repeat(depth)}${']'.repeat(depth)}`, 'VALIDATION_FAILED', 400],
    ['100k nested objects, valid JSON', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, 'VALIDATION_FAILED', 400],
    ['deep nesting inside an accepted field', `{"deviceId":"d1","titleId":"t","requestId":${'['.repeat(depth)}${']'.repeat(depth)}}`, 'VALIDATION_FAILED', 400],
    // __proto__ makes the parser walk the whole tree looking for prototype keys.
    [
      'a __proto__ key under 50k levels',
      `{"deviceId":"d1","titleId":"t","x":${'{"a":'.repeat(depth / 2)}{"__proto__":{"polluted":1}}${'}'.repeat(depth / 2)}}`,
      'INVALID_JSON',
      400,
    ],
  ];
  for (const [label, body, code, status] of cases) {
    expectQuick(t, await post(port, '/v1/members/m1/licenses', body), status, code, label);
  }
  const playback = `{"events":${'['.repeat(depth)}${']'.repeat(depth)}}`;
  expectQuick(t, await post(port, '/v1/members/m1/licenses/L1/playback', playback), 400, 'VALIDATION_FAILED', 'deep nesting where the playback events go');
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype is untouched');
  await expectStillServing(t, port, 'after the deep bodies');
});

t.test('huge arrays, long strings and many query parameters within the limits are a quick 400', async (t) => {
  const { edgePort: port } = await listening(t, { service: { bodyLimitBytes: 1024 * 1024 } });
  const session = '{"sessionId":"s","startedAt":"2026-01-01T00:00:00Z","durationMs":1}';
  const manyEvents = `{"events":[${Array.from({ length: 12_000 }, () => session).join(',')}]}`;
  t.ok(manyEvents.length < 1024 * 1024, 'the playback body is within the limit');
  expectQuick(t, await post(port, '/v1/members/m1/licenses/L1/playback', manyEvents), 400, 'VALIDATION_FAILED', '12,000 playback events (the maximum is 1,000)');
  const numbers = `{"deviceId":"d1","titleId":"t","x":[${Array.from({ length: 200_000 }, (_, i) => i % 10).join(',')}]}`;
  expectQuick(t, await post(port, '/v1/members/m1/licenses', numbers), 400, 'VALIDATION_FAILED', 'a 200,000-item array in an unknown field');
  const longId = `{"deviceId":"${'d'.repeat(900_000)}","titleId":"t"}`;
  expectQuick(t, await post(port, '/v1/members/m1/licenses', longId), 400, 'VALIDATION_FAILED', 'a 900 KB id');
  const manyKeys = `{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":1`).join(',')}}`;
  expectQuick(t, await post(port, '/v1/members/m1/licenses', manyKeys), 400, 'VALIDATION_FAILED', '50,000 keys');

  const host = `Host: 127.0.0.1:${port}\r\nConnection: close\r\n`;
  const repeated = await rawExchange(port, `GET /v1/members/m1/check?titleId=t&${'deviceId=d&'.repeat(700)} HTTP/1.1\r\n${host}\r\n`);
  expectQuick(t, repeated, 400, 'VALIDATION_FAILED', 'one query parameter given 700 times');
  const many = await rawExchange(port, `GET /v1/members/m1/check?deviceId=d&titleId=t&${Array.from({ length: 900 }, (_, i) => `p${i}=1`).join('&')} HTTP/1.1\r\n${host}\r\n`);
  t.ok(many.status === 200 || many.status === 400, `900 unknown query parameters: answered ${many.status}, no 5xx`);
  const longAuth = await rawExchange(port, `GET /v1/admin/rules HTTP/1.1\r\n${host}Authorization: Bearer ${'t'.repeat(30_000)}\r\n\r\n`);
  expectQuick(t, longAuth, 401, 'UNAUTHORIZED', 'a 30 KB bearer token');
  await expectStillServing(t, port, 'after the huge arrays');
});

/** Status codes: 5xx is a fallback, 4xx is a typed answer; 503's Retry-After; unreadable answers; options. */
import t from 'tap';
import { EdgeClient } from '../../src/client/index.ts';
import { edgeClient, fallbackCount, json, stubServer } from './client-support.ts';

const breaker = { volumeThreshold: 1000 };

t.test('a 500 is a fallback and is not retried, even for a read', async (t) => {
  const stub = await stubServer(t, (_req, res) => json(res, 500, { code: 'INTERNAL', message: 'boom' }));
  const { client, registry } = edgeClient(t, { baseUrl: stub.baseUrl, breaker, retry: { backoffMs: 5 } });
  t.same(await client.check('m1', { deviceId: 'd', titleId: 'x' }), { ok: true, fallback: true, cause: 'status5xx', allowed: true, rulesVersion: null });
  t.equal(stub.hits(), 1, 'a 500 is a bug or a broken member: asking again only adds load');
  t.match(client.stats(), { retries: 0, fallbacks: { status5xx: 1, total: 1 } });
  t.equal(await fallbackCount(registry, 'check', 'status5xx'), 1);
});

t.test('a 503 is retried after a short Retry-After, and the retry can get the real answer', async (t) => {
  const stub = await stubServer(t, (req, res) => {
    if (req.hit === 1) json(res, 503, { code: 'OVERLOADED', message: 'later' }, { 'retry-after': '0' });
    else json(res, 200, { licenses: [] });
  });
  const { client } = edgeClient(t, { baseUrl: stub.baseUrl, breaker, retry: { backoffMs: 5 } });
  t.same(await client.listLicenses('m1'), { ok: true, fallback: false, status: 200, replayed: false, licenses: [] });
  t.equal(stub.hits(), 2);
  t.match(client.stats(), { retries: 1, fallbacks: { total: 0 } });
});

t.test('a Retry-After waits when it fits the budget, and answers the fallback at once when it does not', async (t) => {
  let retryAfter = '1';
  const stub = await stubServer(t, (req, res) => {
    if (req.hit === 1) json(res, 503, { code: 'OVERLOADED', message: 'later' }, { 'retry-after': retryAfter });
    else json(res, 200, { allowed: true, rulesVersion: 'r' });
  });
  // Budget 1.5 s: a 1 s Retry-After fits.
  const { client } = edgeClient(t, { baseUrl: stub.baseUrl, timeoutMs: 500, retry: { retries: 2, backoffMs: 5 }, breaker });
  let started = performance.now();
  t.match(await client.check('m1', { deviceId: 'd', titleId: 'x' }), { ok: true, fallback: false, allowed: true });
  let elapsed = performance.now() - started;
  t.ok(elapsed >= 950 && elapsed < 1400, `waited the Retry-After (${elapsed.toFixed(0)} ms)`);
  t.equal(stub.hits(), 2);

  // 30 s is past the budget: no point waiting, and the call must stay bounded.
  retryAfter = '30';
  stub.requests.length = 0;
  started = performance.now();
  t.match(await client.check('m1', { deviceId: 'd', titleId: 'x' }), { ok: true, fallback: true, cause: 'status5xx' });
  elapsed = performance.now() - started;
  t.ok(elapsed < 200, `did not wait (${elapsed.toFixed(0)} ms)`);
  t.equal(stub.hits(), 1, 'no retry');
});

t.test('a 503 on a command without requestId is not retried', async (t) => {
  const stub = await stubServer(t, (_req, res) => json(res, 503, { code: 'STORE_UNAVAILABLE', message: 'later' }, { 'retry-after': '0' }));
  const { client } = edgeClient(t, { baseUrl: stub.baseUrl, breaker, retry: { backoffMs: 5 } });
  t.match(await client.release('m1', 'lic-1'), { ok: true, fallback: true, cause: 'status5xx', licenseId: 'lic-1', releasedAt: null });
  t.equal(stub.hits(), 1);
  t.match(await client.release('m1', 'lic-1', { requestId: 'r1' }), { fallback: true, cause: 'status5xx' });
  t.equal(stub.hits(), 4, 'with a requestId: three attempts');
});

t.test('4xx answers are typed results, never fallbacks, never retried', async (t) => {
  const answers: Record<string, [number, unknown, Record<string, string>?]> = {
    '/v1/members/m1/check?deviceId=d&titleId=x': [400, { code: 'VALIDATION_FAILED', message: 'querystring.plan must be a string', field: 'querystring.plan' }],
    '/v1/members/m1/licenses': [409, { code: 'LICENSE_REFUSED', reason: 'DEVICE_LIMIT', message: 'too many devices', details: { devices: ['a', 'b'] }, rulesVersion: 'v7' }],
    '/v1/members/m1/licenses/l1/renew': [429, { code: 'RATE_LIMITED', message: 'slow down' }, { 'retry-after': '2' }],
    '/v1/members/m1/licenses/l1/release': [422, { code: 'REQUEST_ID_REUSED', message: 'reused' }],
  };
  const stub = await stubServer(t, (req, res) => {
    const answer = answers[req.url];
    if (answer) json(res, answer[0], answer[1], answer[2] ?? {});
    else {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>not here</h1>');
    }
  });
  const { client, registry } = edgeClient(t, { baseUrl: stub.baseUrl, breaker });

  t.same(await client.check('m1', { deviceId: 'd', titleId: 'x' }), {
    ok: false,
    fallback: false,
    kind: 'error',
    status: 400,
    code: 'VALIDATION_FAILED',
    message: 'querystring.plan must be a string',
    field: 'querystring.plan',
  });
  t.same(await client.acquire('m1', { deviceId: 'd', titleId: 'x', requestId: 'r' }), {
    ok: false,
    fallback: false,
    kind: 'refusal',
    status: 409,
    code: 'LICENSE_REFUSED',
    reason: 'DEVICE_LIMIT',
    message: 'too many devices',
    details: { devices: ['a', 'b'] },
    rulesVersion: 'v7',
  });
  t.match(await client.renew('m1', 'l1', { requestId: 'r' }), { ok: false, fallback: false, kind: 'error', status: 429, code: 'RATE_LIMITED', retryAfterMs: 2000 });
  t.match(await client.release('m1', 'l1'), { ok: false, kind: 'error', status: 422, code: 'REQUEST_ID_REUSED' });
  t.match(await client.playback('m1', 'l1', { events: [] }), { ok: false, fallback: false, status: 404, code: 'HTTP_404' }, 'a 404 from something else than the service');
  t.equal(stub.hits(), 5, 'one request each: a 4xx is the answer, asking again would not change it');
  t.match(client.stats(), { calls: 5, retries: 0, fallbacks: { total: 0 } });
  t.equal(await fallbackCount(registry, 'check', 'status5xx'), 0);
});

t.test('a 2xx that is not JSON is no answer: the fallback', async (t) => {
  const stub = await stubServer(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html>captive portal</html>');
  });
  const { client } = edgeClient(t, { baseUrl: stub.baseUrl, breaker, retry: { retries: 0 } });
  t.match(await client.check('m1', { deviceId: 'd', titleId: 'x' }), { ok: true, fallback: true, cause: 'connection', allowed: true });
});

t.test('ids are encoded, a path prefix is kept, bodies carry only the given fields', async (t) => {
  const stub = await stubServer(t, (_req, res) => json(res, 200, { licenseId: 'l', releasedAt: 'now' }));
  const { client } = edgeClient(t, { baseUrl: `${stub.baseUrl}/gateway/license/`, breaker });
  t.match(await client.release('m 1/x', 'l?1', { deviceId: 'phone' }), { ok: true, fallback: false, licenseId: 'l' });
  t.equal(stub.requests[0]?.url, '/gateway/license/v1/members/m%201%2Fx/licenses/l%3F1/release');
  t.same(JSON.parse(stub.requests[0]?.body ?? ''), { deviceId: 'phone' });
});

t.test('options: baseUrl must be an http(s) URL; any host is accepted', async (t) => {
  t.throws(() => new EdgeClient({ baseUrl: 'not a url' }), /baseUrl is not a URL/);
  t.throws(() => new EdgeClient({ baseUrl: 'ftp://127.0.0.1' }), /http or https/);
  t.throws(() => new EdgeClient({ baseUrl: 'http://127.0.0.1', timeoutMs: 0 }), /timeoutMs/);
  t.throws(() => new EdgeClient({ baseUrl: 'http://127.0.0.1', breaker: { errorThresholdPercentage: 150 } }), /at most 100/);
  // Constructing connects to nothing: these are accepted and closed at once.
  for (const baseUrl of ['https://licenses.example.com', 'http://10.1.2.3:8080/prefix', 'http://[::1]:3000']) {
    const client = new EdgeClient({ baseUrl });
    t.equal(client.stats().calls, 0, `${baseUrl} accepted`);
    await client.close();
  }
});

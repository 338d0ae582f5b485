/** service.admin.port: admin and debug on their own port (real listen), not on the edge port. */
import t from 'tap';
import { request } from 'undici';
import { startTestServer, TEST_ADMIN_TOKEN } from '../support/fixtures.ts';

async function fetchStatus(base: string, method: 'GET' | 'POST', path: string, auth = true, body?: unknown): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = auth ? { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } : {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.statusCode, body: await res.body.text() };
}

t.test('with admin.port set: admin routes 404 on the edge port and are served on the admin port', async (t) => {
  const s = await startTestServer({ service: { host: '127.0.0.1', port: 0, admin: { token: TEST_ADMIN_TOKEN, port: 0 } } });
  t.teardown(() => s.close());
  const { edge, admin } = await s.listen();
  t.ok(admin, 'an admin address');
  if (!admin) return;
  t.not(edge, admin, `two ports: ${edge} and ${admin}`);
  t.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/, 'the admin port is on the same host');

  for (const [method, path, body] of [
    ['GET', '/v1/admin/rules', undefined],
    ['POST', '/v1/admin/members/m1/snapshot', undefined],
    ['POST', '/v1/admin/clock', { advanceMs: 1 }],
    ['GET', '/v1/debug/members/m1/events', undefined],
  ] as const) {
    const onEdge = await fetchStatus(edge, method, path, true, body);
    t.equal(onEdge.status, 404, `${method} ${path} on the edge port: 404`);
    t.match(onEdge.body, /ROUTE_NOT_FOUND/);
    const onAdmin = await fetchStatus(admin, method, path, true, body);
    t.equal(onAdmin.status, 200, `${method} ${path} on the admin port: 200 (${onAdmin.body.slice(0, 200)})`);
    t.equal((await fetchStatus(admin, method, path, false, body)).status, 401, `${method} ${path} on the admin port without the token: 401`);
  }
  // The edge routes are on the edge port only.
  t.equal((await fetchStatus(edge, 'GET', '/v1/members/m1/licenses', false)).status, 200, 'edge route on the edge port');
  t.equal((await fetchStatus(admin, 'GET', '/v1/members/m1/licenses', false)).status, 404, 'edge route not on the admin port');
});

t.test('with admin.port null (default) admin routes share the edge port', async (t) => {
  const s = await startTestServer({ service: { host: '127.0.0.1', port: 0 } });
  t.teardown(() => s.close());
  const { edge, admin } = await s.listen();
  t.equal(admin, null, 'no admin port');
  t.equal(s.adminApp, null);
  t.equal((await fetchStatus(edge, 'GET', '/v1/admin/rules')).status, 200);
  t.equal((await fetchStatus(edge, 'GET', '/v1/admin/rules', false)).status, 401);
});

t.test('admin.port without a token opens no port at all', async (t) => {
  const s = await startTestServer({ service: { host: '127.0.0.1', port: 0, admin: { token: null, port: 0 } } });
  t.teardown(() => s.close());
  const { edge, admin } = await s.listen();
  t.equal(admin, null);
  t.equal((await fetchStatus(edge, 'GET', '/v1/admin/rules')).status, 404);
});

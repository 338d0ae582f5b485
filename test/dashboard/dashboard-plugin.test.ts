/**
 * The dashboard's server side (src/dashboard/dashboard-plugin.ts): its files under /dashboard/
 * where the admin routes are, uPlot from node_modules and nothing else of that package, and a
 * clear refusal (404 ROUTE_NOT_FOUND saying how to set ADMIN_TOKEN, never a 500) without a token.
 * The browser suite (browser.test.ts) drives the page itself.
 */
import t from 'tap';
import { request } from 'undici';
import { startTestServer, TEST_ADMIN_TOKEN } from '../support/fixtures.ts';
import { server } from '../http/http-support.ts';

t.test('with a token: the page, its modules and styles are served under /dashboard/, no token needed for the files', async (t) => {
  const s = await server(t);
  const redirect = await s.app.inject({ url: '/dashboard' });
  t.equal(redirect.statusCode, 302, '/dashboard redirects');
  t.equal(redirect.headers.location, '/dashboard/', 'to /dashboard/');

  const page = await s.app.inject({ url: '/dashboard/' });
  t.equal(page.statusCode, 200, page.body.slice(0, 200));
  t.match(page.headers['content-type'], /^text\/html/);
  for (const hook of [
    'data-testid="login-token"',
    'data-testid="login-submit"',
    'data-testid="nav-cluster"',
    'data-testid="nav-member"',
    'data-testid="nav-store"',
    'id="view-member"',
  ]) {
    t.ok(page.body.includes(hook), `the page has ${hook}`);
  }
  t.match(page.body, /<script type="module" src="app\.js"><\/script>/, 'one module script, no inline code');
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /script-src 'self'/, 'scripts only from this origin');
  t.match(csp, /connect-src 'self'/, 'calls only to this origin');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['referrer-policy'], 'no-referrer');

  for (const file of ['app.js', 'api.js', 'cluster.js', 'cluster-changes.js', 'store.js', 'member.js', 'dom.js']) {
    const res = await s.app.inject({ url: `/dashboard/${file}` });
    t.equal(res.statusCode, 200, `${file} served`);
    t.match(res.headers['content-type'], /^(application|text)\/javascript/, `${file} as JavaScript (a module script needs it)`);
  }
  const css = await s.app.inject({ url: '/dashboard/dashboard.css' });
  t.equal(css.statusCode, 200);
  t.match(css.headers['content-type'], /^text\/css/);
  t.notOk(page.body.includes(TEST_ADMIN_TOKEN), 'the page does not embed the token');

  const missing = await s.app.inject({ url: '/dashboard/nothing-here.js' });
  t.equal(missing.statusCode, 404);
  t.equal((JSON.parse(missing.body) as { code: string }).code, 'ROUTE_NOT_FOUND', 'a missing file is the catalog 404');
});

t.test('uPlot is served from node_modules: its browser builds and CSS, nothing else of the package', async (t) => {
  const s = await server(t);
  for (const [file, type] of [
    ['uPlot.esm.js', /javascript/],
    ['uPlot.iife.min.js', /javascript/],
    ['uPlot.min.css', /^text\/css/],
  ] as const) {
    const res = await s.app.inject({ url: `/dashboard/vendor/uplot/${file}` });
    t.equal(res.statusCode, 200, `${file} served`);
    t.match(res.headers['content-type'], type, `${file} content type`);
    t.ok(res.body.length > 1000, `${file} has content`);
  }
  t.match((await s.app.inject({ url: '/dashboard/vendor/uplot/uPlot.esm.js' })).body, /export \{ uPlot as default \}|export default/, 'the ES module build');
  for (const url of [
    '/dashboard/vendor/uplot/uPlot.cjs.js',
    '/dashboard/vendor/uplot/uPlot.d.ts',
    '/dashboard/vendor/uplot/../package.json',
    '/dashboard/vendor/uplot/%2e%2e/package.json',
    '/dashboard/../package.json',
  ]) {
    const res = await s.app.inject({ url });
    t.ok([403, 404].includes(res.statusCode), `${url}: refused (${res.statusCode})`);
    t.notMatch(res.body, /"name":\s*"(uplot|license-accounting)"/, `${url}: no package.json`);
  }
});

t.test('no admin token: /dashboard answers a clear refusal (404 ROUTE_NOT_FOUND) naming ADMIN_TOKEN, as a page for a browser', async (t) => {
  const s = await server(t, { adminToken: null });
  for (const url of ['/dashboard', '/dashboard/', '/dashboard/app.js', '/dashboard/vendor/uplot/uPlot.esm.js']) {
    const json = await s.app.inject({ url });
    t.equal(json.statusCode, 404, `${url}: 404`);
    const body = JSON.parse(json.body) as { code: string; message: string };
    t.equal(body.code, 'ROUTE_NOT_FOUND', `${url}: the catalog's code`);
    t.match(body.message, /no admin token/, `${url}: says why`);
    t.match(body.message, /ADMIN_TOKEN/, `${url}: says how to turn it on`);
  }
  const page = await s.app.inject({ url: '/dashboard/', headers: { accept: 'text/html,application/xhtml+xml' } });
  t.equal(page.statusCode, 404);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.body, /The dashboard is off/);
  t.match(page.body, /ADMIN_TOKEN=/);
  // The admin routes the page would call are not there either.
  t.equal((await s.app.inject({ url: '/v1/admin/metrics/history' })).statusCode, 404);
});

t.test('with service.admin.port: the dashboard is on the admin port, not on the edge', async (t) => {
  const s = await startTestServer({ service: { host: '127.0.0.1', port: 0, admin: { token: TEST_ADMIN_TOKEN, port: 0 } } });
  t.teardown(() => s.close());
  const { edge, admin } = await s.listen();
  if (!admin) return t.fail('no admin port');
  const onAdmin = await request(`${admin}/dashboard/`);
  t.equal(onAdmin.statusCode, 200, 'on the admin port');
  await onAdmin.body.text();
  const uplot = await request(`${admin}/dashboard/vendor/uplot/uPlot.min.css`);
  t.equal(uplot.statusCode, 200, 'uPlot on the admin port');
  await uplot.body.text();
  const onEdge = await request(`${edge}/dashboard/`);
  t.equal(onEdge.statusCode, 404, 'not on the edge port');
  t.match(await onEdge.body.text(), /ROUTE_NOT_FOUND/);
});

t.test('the dashboard files are not in the OpenAPI document; the history route is, behind the token', async (t) => {
  const s = await server(t);
  await s.app.ready();
  const paths = Object.keys((s.app.swagger() as { paths: Record<string, unknown> }).paths);
  t.notOk(
    paths.some((p) => p.startsWith('/dashboard')),
    'no /dashboard path',
  );
  t.ok(paths.includes('/v1/admin/metrics/history'), 'the history route is documented');
});

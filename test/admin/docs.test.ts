/** /docs serves the swagger-ui page, /docs/json the OpenAPI document generated from the route schemas. */
import t from 'tap';
import { server } from '../http/http-support.ts';
import { send } from './admin-support.ts';

t.test('/docs serves HTML and /docs/json the spec', async (t) => {
  const s = await server(t);
  const page = await send(s.app, { method: 'GET', url: '/docs' });
  const html =
    page.status === 302
      ? await send(s.app, { method: 'GET', url: String(page.headers['location']).startsWith('/') ? String(page.headers['location']) : `/docs/${String(page.headers['location'])}` })
      : page;
  t.equal(html.status, 200);
  t.match(String(html.headers['content-type']), /text\/html/);
  t.match(html.raw, /swagger/i);

  const spec = await send(s.app, { method: 'GET', url: '/docs/json' });
  t.equal(spec.status, 200);
  t.match(spec.body, { openapi: /^3\./, info: { title: 'License accounting service' } });
  const paths = spec.body['paths'] as Record<string, Record<string, { security?: unknown }>>;
  t.ok(paths['/v1/members/{memberId}/licenses']?.['post'], 'the edge routes');
  t.same(paths['/v1/admin/rules']?.['get']?.security, [{ adminToken: [] }], 'admin routes say they need the bearer token');
  t.ok(paths['/v1/admin/clock'], 'the manual clock route, on a manual-clock server');
  t.notOk(paths['/v1/members/{memberId}/licenses']?.['post']?.security, 'edge routes need no token');
  t.notOk(paths['/docs/json'], 'the docs routes are not in the spec');
});

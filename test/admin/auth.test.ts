/**
 * Admin and debug routes need `Authorization: Bearer <token>`: a missing or wrong token is 401
 * with no detail; without a configured token the routes do not exist (404). The token comes from
 * ADMIN_TOKEN or the config file (ADMIN_TOKEN wins).
 */
import t from 'tap';
import type { InjectOptions } from 'fastify';
import { loadConfig } from '../../src/config/load.ts';
import { createServer } from '../../src/server.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { server } from '../http/http-support.ts';
import { TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { AUTH, expectUnauthorized, send, tempConfigFile } from './admin-support.ts';

/** Every admin route, with a request that succeeds given the token. */
const ADMIN_REQUESTS: { label: string; request: InjectOptions }[] = [
  { label: 'snapshot', request: { method: 'POST', url: '/v1/admin/members/m1/snapshot' } },
  { label: 'rules', request: { method: 'GET', url: '/v1/admin/rules' } },
  // No config file behind a test server: the reload is refused (409), still past authentication.
  { label: 'rules reload', request: { method: 'POST', url: '/v1/admin/rules/reload' } },
  { label: 'clock', request: { method: 'POST', url: '/v1/admin/clock', payload: { advanceMs: 1000 } } },
];
const EXPECTED_WITH_TOKEN: Record<string, number> = { snapshot: 200, rules: 200, 'rules reload': 409, clock: 200 };

function withHeaders(request: InjectOptions, headers: Record<string, string>): InjectOptions {
  return { ...request, headers: { ...(request.headers as Record<string, string> | undefined), ...headers } };
}

t.test('every admin route: the right token passes, a missing or wrong one is 401 with no detail', async (t) => {
  const s = await server(t);
  for (const { label, request } of ADMIN_REQUESTS) {
    const ok = await send(s.app, withHeaders(request, AUTH));
    t.equal(ok.status, EXPECTED_WITH_TOKEN[label], `${label} with the token: ${ok.raw}`);
    expectUnauthorized(t, await send(s.app, request), `${label} without a token`);
    const wrongs: Record<string, string> = {
      'wrong token': `Bearer ${'x'.repeat(TEST_ADMIN_TOKEN.length)}`,
      'token with its last character changed': `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}${TEST_ADMIN_TOKEN.endsWith('f') ? 'e' : 'f'}`,
      'a prefix of the token': `Bearer ${TEST_ADMIN_TOKEN.slice(0, 8)}`,
      'the token plus a character': `Bearer ${TEST_ADMIN_TOKEN}x`,
      'the token without the Bearer scheme': TEST_ADMIN_TOKEN,
      'Basic scheme': `Basic ${Buffer.from(`admin:${TEST_ADMIN_TOKEN}`).toString('base64')}`,
      'empty bearer': 'Bearer ',
    };
    for (const [what, authorization] of Object.entries(wrongs)) {
      const res = await send(s.app, withHeaders(request, { authorization }));
      expectUnauthorized(t, res, `${label}, ${what}`);
      t.notOk(res.raw.includes(TEST_ADMIN_TOKEN.slice(0, 8)), `${label}, ${what}: the answer holds no part of the token`);
    }
  }
  t.equal(s.clock.now(), Date.UTC(2026, 0, 1) + 1000, 'only the authorized clock move happened');
});

t.test('the scheme name is case-insensitive, the token is not', async (t) => {
  const s = await server(t);
  const rules = { method: 'GET', url: '/v1/admin/rules' } as const;
  t.equal((await send(s.app, { ...rules, headers: { authorization: `bearer ${TEST_ADMIN_TOKEN}` } })).status, 200, 'bearer');
  t.equal((await send(s.app, { ...rules, headers: { authorization: `BEARER ${TEST_ADMIN_TOKEN}` } })).status, 200, 'BEARER');
  expectUnauthorized(t, await send(s.app, { ...rules, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN.toUpperCase()}` } }), 'upper-cased token');
});

t.test('an unauthorized request is refused before its body is read', async (t) => {
  const s = await server(t);
  const res = await send(s.app, { method: 'POST', url: '/v1/admin/clock', payload: '{not json', headers: { 'content-type': 'application/json' } });
  expectUnauthorized(t, res, 'bad JSON without a token');
  const authorized = await send(s.app, { method: 'POST', url: '/v1/admin/clock', payload: '{not json', headers: { 'content-type': 'application/json', ...AUTH } });
  t.equal(authorized.status, 400, 'with the token the body is parsed (and refused)');
});

t.test('the edge routes need no token', async (t) => {
  const s = await server(t);
  t.equal((await send(s.app, { method: 'GET', url: '/healthz' })).status, 200);
  t.equal((await send(s.app, { method: 'GET', url: '/v1/members/m1/licenses' })).status, 200);
});

t.test('without a configured token the admin and debug routes do not exist (404), never open', async (t) => {
  const s = await server(t, { adminToken: null });
  for (const { label, request } of ADMIN_REQUESTS) {
    for (const headers of [{}, AUTH]) {
      const res = await send(s.app, withHeaders(request, headers));
      t.equal(res.status, 404, `${label}: 404 (${res.raw})`);
      t.equal(res.body['code'], 'ROUTE_NOT_FOUND', `${label}: ROUTE_NOT_FOUND`);
    }
  }
  const debug = await send(s.app, { method: 'GET', url: '/v1/debug/members/m1/events', headers: AUTH });
  t.equal(debug.status, 404, 'debug routes are off too');
  t.equal(s.adminApp, null, 'no admin app either');
});

t.test('the debug routes share the admin token', async (t) => {
  const s = await server(t);
  expectUnauthorized(t, await send(s.app, { method: 'GET', url: '/v1/debug/members/m1/events' }), 'debug without a token');
  const ok = await send(s.app, { method: 'GET', url: '/v1/debug/members/m1/events', headers: AUTH });
  t.not(ok.status, 401, `debug with the token passes authentication (${ok.status})`);
});

t.test('the token comes from ADMIN_TOKEN or the config file; ADMIN_TOKEN wins', async (t) => {
  const fileToken = 'file-token-aaaaaaaaaaaaaaaaaaaa';
  const envToken = 'env-token-bbbbbbbbbbbbbbbbbbbbbb';
  const path = await tempConfigFile(t, { actors: { workers: 0 }, admin: { token: fileToken } }, testRules());
  const start = async (env: Record<string, string>) => {
    const config = loadConfig({ argv: ['--config', path], env });
    const s = await createServer(config, { store: new SqliteEventStore(':memory:'), watchRules: false });
    t.teardown(() => s.close());
    return s;
  };
  const rules = { method: 'GET', url: '/v1/admin/rules' } as const;
  const fromFile = await start({});
  t.equal((await send(fromFile.app, { ...rules, headers: { authorization: `Bearer ${fileToken}` } })).status, 200, 'the file token');
  expectUnauthorized(t, await send(fromFile.app, { ...rules, headers: { authorization: `Bearer ${envToken}` } }), 'another token');

  const fromEnv = await start({ ADMIN_TOKEN: envToken });
  t.equal((await send(fromEnv.app, { ...rules, headers: { authorization: `Bearer ${envToken}` } })).status, 200, 'ADMIN_TOKEN');
  expectUnauthorized(t, await send(fromEnv.app, { ...rules, headers: { authorization: `Bearer ${fileToken}` } }), 'the file token, overridden');

  const emptyEnv = await start({ ADMIN_TOKEN: '' });
  t.equal((await send(emptyEnv.app, { ...rules, headers: { authorization: `Bearer ${fileToken}` } })).status, 200, 'an empty ADMIN_TOKEN is unset');

  t.throws(() => loadConfig({ argv: ['--config', path], env: { ADMIN_TOKEN: 'short' } }), /ADMIN_TOKEN must be at least 16 characters/);
  const noToken = await tempConfigFile(t, { actors: { workers: 0 } }, testRules());
  const off = await createServer(loadConfig({ argv: ['--config', noToken], env: {} }), { store: new SqliteEventStore(':memory:'), watchRules: false });
  t.teardown(() => off.close());
  t.equal((await send(off.app, { ...rules, headers: { authorization: `Bearer ${fileToken}` } })).status, 404, 'no token anywhere: 404');
  const on = await createServer(loadConfig({ argv: ['--config', noToken], env: { ADMIN_TOKEN: envToken } }), {
    store: new SqliteEventStore(':memory:'),
    watchRules: false,
  });
  t.teardown(() => on.close());
  t.equal((await send(on.app, { ...rules, headers: { authorization: `Bearer ${envToken}` } })).status, 200, 'ADMIN_TOKEN alone turns them on');
});

t.test('the clock route needs the token and exists only on the manual clock', async (t) => {
  const s = await server(t, { service: { clock: 'system' } });
  const res = await send(s.app, { method: 'POST', url: '/v1/admin/clock', payload: { advanceMs: 1 }, headers: AUTH });
  t.equal(res.status, 404, 'system clock: no clock route even with the token');
});

t.test('bearerChecker accepts exactly the token', async (t) => {
  const { bearerChecker } = await import('../../src/http/admin-auth.ts');
  const check = bearerChecker(TEST_ADMIN_TOKEN);
  t.equal(check(`Bearer ${TEST_ADMIN_TOKEN}`), true);
  for (const bad of [undefined, '', 'Bearer', `Bearer ${TEST_ADMIN_TOKEN} extra`, `Bearer ${TEST_ADMIN_TOKEN.slice(1)}`, `Token ${TEST_ADMIN_TOKEN}`]) {
    t.equal(check(bad), false, `refuses ${JSON.stringify(bad)}`);
  }
  t.equal(bearerChecker('Bearer')('Bearer '), false, 'an empty presented token never matches');
});

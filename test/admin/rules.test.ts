/** GET /v1/admin/rules and POST /v1/admin/rules/reload against a temp config file. */
import t, { type Test } from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { loadConfig } from '../../src/config/load.ts';
import { createServer, type Server } from '../../src/server.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { server } from '../http/http-support.ts';
import { testRules, TEST_ADMIN_TOKEN } from '../support/fixtures.ts';
import { AUTH, expectUnauthorized, send, tempConfigFile, writeConfigFile } from './admin-support.ts';

const SERVICE = { actors: { workers: 0 }, clock: 'manual', admin: { token: TEST_ADMIN_TOKEN }, rateLimit: null };

async function start(t: Test, path: string, workers = 0): Promise<Server> {
  const config = loadConfig({ argv: ['--config', path], env: {} });
  config.service.actors.workers = workers;
  const s = await createServer(config, { store: new SqliteEventStore(':memory:'), watchRules: false });
  t.teardown(() => s.close());
  return s;
}

const reload = (s: Server) => send(s.app, { method: 'POST', url: '/v1/admin/rules/reload', headers: AUTH });
const rules = (s: Server) => send(s.app, { method: 'GET', url: '/v1/admin/rules', headers: AUTH });

t.test('GET /v1/admin/rules: the rules in force and their version', async (t) => {
  const s = await server(t);
  const res = await rules(s);
  t.equal(res.status, 200);
  t.equal(res.body['rulesVersion'], 'test-1');
  t.same(res.body['rules'], testRules());
  expectUnauthorized(t, await send(s.app, { method: 'GET', url: '/v1/admin/rules' }), 'no token');
});

t.test('reload: unchanged, applied, refused (409 with the reason, last good rules stay)', async (t) => {
  const path = await tempConfigFile(t, SERVICE, testRules());
  const s = await start(t, path);

  const unchanged = await reload(s);
  t.equal(unchanged.status, 200);
  t.same(unchanged.body, { outcome: 'unchanged', rulesVersion: 'test-1' });

  const next = testRules({ version: 'test-2', maxActiveDownloadsPerDevice: 1 });
  await writeConfigFile(path, SERVICE, next);
  const applied = await reload(s);
  t.equal(applied.status, 200, applied.raw);
  t.same(applied.body, { outcome: 'applied', rulesVersion: 'test-2', previousVersion: 'test-1' });
  t.equal((await rules(s)).body['rulesVersion'], 'test-2', 'GET shows the new rules');
  t.same((await rules(s)).body['rules'], next);
  const acquire = await send(s.app, { method: 'POST', url: '/v1/members/m1/licenses', payload: { deviceId: 'd', titleId: 'film-1' } });
  t.equal(acquire.body['rulesVersion'], 'test-2', 'decisions use the reloaded rules');

  // Changed rules under the same version.
  await writeConfigFile(path, SERVICE, { ...next, maxActiveDownloadsPerDevice: 9 });
  const sameVersion = await reload(s);
  t.equal(sameVersion.status, 409, sameVersion.raw);
  t.equal(sameVersion.body['code'], 'RULES_RELOAD_REFUSED');
  t.equal(sameVersion.body['outcome'], 'refused');
  t.match(sameVersion.body['reason'], /still "test-2"/);
  t.match(sameVersion.body['message'], /still "test-2"/);
  t.equal(sameVersion.body['rulesVersion'], 'test-2', 'the last good rules stay in force');

  // A file that is not JSON, and rules that do not validate.
  await writeFile(path, '{ "rules": ');
  const badJson = await reload(s);
  t.equal(badJson.status, 409);
  t.match(badJson.body['reason'], /not valid JSON/);
  await writeConfigFile(path, SERVICE, { ...next, version: 'test-3', maxActiveDownloadsPerDevice: -1 });
  const invalid = await reload(s);
  t.equal(invalid.status, 409);
  t.match(invalid.body['reason'], /maxActiveDownloadsPerDevice/);
  t.equal((await rules(s)).body['rulesVersion'], 'test-2');
  t.ok((await readFile(path, 'utf8')).includes('test-3'));
  expectUnauthorized(t, await send(s.app, { method: 'POST', url: '/v1/admin/rules/reload' }), 'no token');
});

t.test('reload through the actor pool reaches the workers', async (t) => {
  const path = await tempConfigFile(t, { ...SERVICE, sqlite: { path: 'events.db' } }, testRules());
  const config = loadConfig({ argv: ['--config', path], env: {} });
  config.service.actors.workers = 2;
  const s = await createServer(config, { watchRules: false });
  t.teardown(() => s.close());
  await writeConfigFile(path, { ...SERVICE, sqlite: { path: 'events.db' } }, testRules({ version: 'pool-2' }));
  t.equal((await reload(s)).body['outcome'], 'applied');
  for (const member of ['w-a', 'w-b', 'w-c', 'w-d']) {
    const res = await send(s.app, { method: 'GET', url: `/v1/members/${member}/check?deviceId=d&titleId=film-1` });
    t.equal(res.body['rulesVersion'], 'pool-2', `${member}: its worker decides with the reloaded rules`);
  }
});

t.test('reload without a config file is refused', async (t) => {
  const s = await server(t);
  const res = await reload(s);
  t.equal(res.status, 409);
  t.equal(res.body['code'], 'RULES_RELOAD_REFUSED');
  t.match(res.body['reason'], /without a config file/);
});

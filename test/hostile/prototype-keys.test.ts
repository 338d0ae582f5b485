/**
 * Prototype keys, one node: a real server on worker threads (the hash ring picks the worker)
 * over SQLite in a temp file, its rules read from a config file whose plans, studios and titles
 * are named after every own property name of Object.prototype and Function.prototype. Every id
 * position of every route is driven with each of those names over HTTP (prototype-keys-barrage.ts);
 * then the process and its workers are alive, no prototype changed in any thread, a normal
 * acquire and /metrics work, and every member's licenses are the same after a restart.
 * Before the fix, one GET /v1/members/__proto__/licenses poisoned Object.prototype.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig, readConfigFile } from '../../src/config/load.ts';
import { createServer, type Server } from '../../src/server.ts';
import { T0, TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { checkAbsentNamesAndListAll, hostileRules, httpClient, licensesOf, runBarrage, ID_NAMES } from './prototype-keys-barrage.ts';
import { PROTOTYPE_NAMES, actorWorkers, prototypeChanges, prototypeSnapshot, workerPrototypes } from './prototype-keys-support.ts';

const WORKERS = 2;
const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

t.test('every prototype property name in every id position: worker threads, SQLite, a restart', async (t) => {
  const before = prototypeSnapshot();
  const dir = await mkdtemp(join(tmpdir(), 'prototype-keys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.json');
  const rules = hostileRules('prototype-keys-1');
  await writeFile(
    configPath,
    JSON.stringify({
      service: {
        host: '127.0.0.1',
        port: 0,
        clock: 'manual',
        sqlite: { path: join(dir, 'events.db') },
        actors: { workers: WORKERS },
        admin: { token: TEST_ADMIN_TOKEN },
        // On, so that every member id goes through the limiter's keys; high, so that none is refused.
        rateLimit: { perMemberPerSecond: 100_000, burst: 100_000 },
      },
      rules,
    }),
  );
  t.match(await readFile(configPath, 'utf8'), /"plans":\{[^]*"__proto__":\{"maxDownloadDevices"/, 'the config file names a plan __proto__');

  let server: Server | null = null;
  let edge = '';
  const start = async (): Promise<Server> => {
    const config = parseConfig(readConfigFile(configPath), configPath);
    const started = await createServer(config, { manualClockStart: T0, watchRules: false });
    edge = (await started.listen()).edge;
    return started;
  };
  const client = httpClient(() => [edge]);
  t.teardown(async () => {
    await client.close();
    await server?.close();
  });
  server = await start();
  t.equal(server.pool?.workerIds.length, WORKERS, 'the service runs on worker threads');
  const workersBefore = actorWorkers(await workerPrototypes());
  t.equal(workersBefore.length, WORKERS, `the inspector sees the actor worker threads: ${workersBefore.map((w) => w.title).join(', ')}`);
  t.same(
    workersBefore.filter((w) => w.object.join() !== Object.getOwnPropertyNames(Object.prototype).sort().join()),
    [],
    "each one's Object.prototype has the names this thread's has",
  );

  const started = Date.now();
  const { findings, members } = await runBarrage(client);
  t.same(findings.problems, [], `${findings.checked} answers to ${ID_NAMES.length} names were the ones expected`);
  t.ok(findings.checked > ID_NAMES.length * 50, `the barrage checked ${findings.checked} answers in ${Date.now() - started} ms`);

  t.same(prototypeChanges(before), [], 'the main thread: Object.prototype and Function.prototype unchanged');
  const workersAfter = actorWorkers(await workerPrototypes());
  t.same(
    workersAfter.map((w) => w.workerId),
    workersBefore.map((w) => w.workerId),
    'the same worker threads are alive (none died and was replaced)',
  );
  t.same(workersAfter, workersBefore, 'every worker thread: prototype property names unchanged');
  t.equal((await server.pool?.stats())?.length, WORKERS, 'every worker answers');

  const health = await client.send('GET', '/healthz');
  t.equal(health.status, 200, 'the process answers');
  const normal = await client.send('POST', '/v1/members/alice/licenses', { body: { deviceId: 'phone-1', titleId: 'open-a', plan: 'standard' } });
  t.equal(normal.status, 201, `a normal acquire works: ${normal.text}`);
  t.same(
    Object.keys(normal.body).sort(),
    ['expiresAt', 'licenseId', 'memberId', 'deviceId', 'rulesVersion', 'studioId', 'titleId'].sort(),
    'and its body has exactly the documented fields',
  );
  const metrics = await client.send('GET', '/metrics');
  t.equal(metrics.status, 200, '/metrics answers');
  t.match(metrics.text, /http_requests_total\{/, '/metrics has the request counts');

  const shown = await client.send('GET', '/v1/admin/rules', { headers: ADMIN });
  t.equal(shown.status, 200, 'the admin API shows the rules');
  const shownRules = shown.body.rules as { plans: object; studios: object; titles: object };
  t.same(
    PROTOTYPE_NAMES.filter((name) => !Object.hasOwn(shownRules.plans, name) || !Object.hasOwn(shownRules.studios, name) || !Object.hasOwn(shownRules.titles, name)),
    [],
    'with every plan, studio and title named after a prototype property',
  );
  const reload = await client.send('POST', '/v1/admin/rules/reload', { headers: ADMIN });
  t.match(reload.body, { outcome: 'unchanged', rulesVersion: 'prototype-keys-1' }, 'reloading the same file changes nothing');

  // The same names, now absent from the rules: unknown plans and titles without a studio.
  t.match(server.rules.replace(testRules({ version: 'prototype-keys-absent' })), { outcome: 'applied' });
  const { everyone, listed } = await checkAbsentNamesAndListAll(t, client, members, before);
  await server.close();
  server = null;
  server = await start();
  const relisted = await licensesOf(client, everyone);
  t.same(
    everyone.filter((member) => relisted.get(member) !== listed.get(member)),
    [],
    `after a restart on the same file, each of the ${everyone.length} members has the same licenses`,
  );
  t.same(prototypeChanges(before), [], 'and no prototype changed across the restart');
});

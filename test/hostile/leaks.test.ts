/**
 * Nothing leaks: every kind of failure is provoked on a real listening server, on the edge port
 * and on the admin port, and no answer (status line, headers or body) carries a file path, a
 * stack frame, a CQL statement or any part of the admin token.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import { StoreUnavailableError } from '../../src/errors/catalog.ts';
import { createServer } from '../../src/server.ts';
import type { EventStore } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { T0, TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { listening, rawExchange, rawRequest, type RawAnswer } from './raw-http.ts';

const CQL = 'SELECT position FROM license_accounting.events WHERE member_id = ?; INSERT INTO events (member_id) VALUES (?); UPDATE heads SET position = ? WHERE member_id = ?';
const STACK =
  '\n    at CassandraEventStore.readHead (/work/main/src/store/cassandra/cassandra-event-store.ts:120:11)\n    at /home/svc/node_modules/cassandra-driver/lib/client.js:1:1';
const WRONG_TOKEN = 'wrong-token-9f8e7d6c5b4a39281706';

/**
 * The store fails for members named leak-*, the way a driver fails: with CQL, a path and a
 * stack in the message. leak-internal: an unexpected error; leak-unavailable: the store's 503;
 * leak-conflict: an error carrying a catalog code (as store errors do).
 */
function failingStore(inner: EventStore): EventStore {
  const fail = (memberId: string): Error => {
    const text = `driver said: ${CQL} (/tmp/cassandra/data)${STACK}`;
    if (memberId === 'leak-unavailable') return new StoreUnavailableError(`event store unavailable during load: ${text}`);
    if (memberId === 'leak-conflict') return Object.assign(new Error(text), { code: 'STORE_CONFLICT' });
    const error = new Error(text);
    error.stack = `Error: ${text}${STACK}`;
    return error;
  };
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string' && args[0].startsWith('leak-')) throw fail(args[0]);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Substrings no answer may contain: paths, stack frames, CQL, and any 8 characters of a token. */
function forbidden(dir: string): string[] {
  const pieces = [dir, '/work/', '/home/', '/tmp/', '/root/', 'node_modules', '.ts:', '.js:', '    at ', 'SELECT ', 'INSERT ', 'UPDATE '];
  for (const token of [TEST_ADMIN_TOKEN, WRONG_TOKEN]) for (let i = 0; i + 8 <= token.length; i++) pieces.push(token.slice(i, i + 8));
  return pieces;
}

function expectClean(t: Test, answer: RawAnswer, label: string, dir: string): void {
  t.ok(answer.status > 0, `${label}: answered (${answer.status})`);
  const found = forbidden(dir).filter((piece) => answer.raw.includes(piece));
  t.same(found, [], `${label}: nothing to hide in the answer`, { raw: answer.raw.slice(0, 600) });
}

interface Setup {
  edge: number;
  admin: number;
  configPath: string;
  dir: string;
}

/** A server whose config came from a file (so rules reload reads it), on a failing store. */
async function setup(t: Test, separateAdmin: boolean): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'leaks-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'service-config.json');
  const raw = {
    service: { host: '127.0.0.1', port: 0, clock: 'manual', actors: { workers: 0 }, rateLimit: null, admin: { token: TEST_ADMIN_TOKEN, port: separateAdmin ? 0 : null } },
    rules: testRules(),
  };
  await writeFile(configPath, JSON.stringify(raw));
  const config = parseConfig(structuredClone(raw), configPath);
  const server = await createServer(config, { store: failingStore(new SqliteEventStore(':memory:')), manualClockStart: T0, watchRules: false });
  t.teardown(() => server.close());
  const addresses = await server.listen();
  const edge = Number(new URL(addresses.edge).port);
  return { edge, admin: addresses.admin ? Number(new URL(addresses.admin).port) : edge, configPath, dir };
}

const AUTH = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const ACQUIRE = '{"deviceId":"d1","titleId":"t"}';

async function provokeEverything(t: Test, s: Setup): Promise<void> {
  const clean = (answer: RawAnswer, label: string) => expectClean(t, answer, label, s.dir);
  const expectStatus = (answer: RawAnswer, status: number, label: string) => {
    t.equal(answer.status, status, `${label}: status ${status}`, { raw: answer.raw.slice(0, 600) });
    clean(answer, label);
  };

  // Store failures behind the edge routes, the admin snapshot and the debug reads.
  for (const member of ['leak-internal', 'leak-unavailable', 'leak-conflict']) {
    const status = member === 'leak-internal' ? 500 : 503;
    expectStatus(await rawRequest(s.edge, 'POST', `/v1/members/${member}/licenses`, { body: ACQUIRE }), status, `edge acquire, ${member}`);
    clean(await rawRequest(s.edge, 'GET', `/v1/members/${member}/check?deviceId=d1&titleId=t`), `edge check, ${member}`);
    clean(await rawRequest(s.edge, 'GET', `/v1/members/${member}/licenses`), `edge licenses, ${member}`);
    expectStatus(await rawRequest(s.admin, 'POST', `/v1/admin/members/${member}/snapshot`, { headers: AUTH }), status, `admin snapshot, ${member}`);
    for (const read of ['events', 'state', 'explain?deviceId=d1&titleId=t']) {
      clean(await rawRequest(s.admin, 'GET', `/v1/debug/members/${member}/${read}`, { headers: AUTH }), `debug ${read}, ${member}`);
    }
    clean(await rawRequest(s.admin, 'GET', `/v1/debug/members/${member}/events`, { headers: { ...AUTH, Accept: 'application/x-ndjson' } }), `debug events as NDJSON, ${member}`);
  }

  // Rules reload: a file that does not parse (with the token right at the fault), an invalid
  // one, and a missing one.
  await writeFile(s.configPath, `{"service":{"admin":{"token":${TEST_ADMIN_TOKEN}}}}`);
  const unparsable = await rawRequest(s.admin, 'POST', '/v1/admin/rules/reload', { headers: AUTH });
  expectStatus(unparsable, 409, 'reload of a file that does not parse');
  t.match(unparsable.body, /service-config\.json/, 'the reason names the file by its name');
  await writeFile(s.configPath, JSON.stringify({ service: { admin: { token: TEST_ADMIN_TOKEN } }, rules: { version: 'x' } }));
  expectStatus(await rawRequest(s.admin, 'POST', '/v1/admin/rules/reload', { headers: AUTH }), 409, 'reload of an invalid file');
  await unlink(s.configPath);
  expectStatus(await rawRequest(s.admin, 'POST', '/v1/admin/rules/reload', { headers: AUTH }), 409, 'reload of a missing file');

  // Framework errors, on both ports.
  for (const [port, where] of [
    [s.edge, 'edge'],
    [s.admin, 'admin'],
  ] as const) {
    const badUrl = await rawRequest(port, 'GET', '/v1/members/%E0%A4%A/licenses');
    t.ok(badUrl.status === 400 || badUrl.status === 404, `${where}: bad percent-encoding is a 4xx`);
    clean(badUrl, `${where}: bad percent-encoding`);
    expectStatus(await rawRequest(port, 'GET', '/docs/static/no-such-file.js'), 404, `${where}: a missing docs file`);
    clean(await rawRequest(port, 'GET', '/docs/static/..%2f..%2f..%2fpackage.json'), `${where}: a docs path climbing out`);
    clean(await rawRequest(port, 'GET', '/docs/static/%2e%2e/%2e%2e/%2e%2e/package.json'), `${where}: a docs path climbing out, dots encoded`);
    clean(await rawRequest(port, 'POST', '/v1/members/m1/licenses', { body: '{"deviceId":', headers: AUTH }), `${where}: JSON cut short`);
    clean(await rawRequest(port, 'POST', '/v1/members/m1/licenses', { body: 'x=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), `${where}: a form body`);
    expectStatus(await rawExchange(port, 'get / HTTP/1.1\r\n\r\n'), 400, `${where}: a parse error`);
    expectStatus(await rawExchange(port, `GET /${'a'.repeat(40_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, `${where}: a head too large`);
    // A wrong token is never echoed, nor the right one named (the edge port without admin routes: 404).
    const unauthorized = port === s.admin ? 401 : 404;
    for (const authorization of [`Bearer ${WRONG_TOKEN}`, `Basic ${Buffer.from(`admin:${WRONG_TOKEN}`).toString('base64')}`, `Bearer ${TEST_ADMIN_TOKEN.slice(0, -1)}`]) {
      expectStatus(await rawRequest(port, 'GET', '/v1/admin/rules', { headers: { Authorization: authorization } }), unauthorized, `${where}: a wrong Authorization`);
    }
  }
}

t.test('no answer carries a path, a stack, CQL or the token (one port)', async (t) => {
  await provokeEverything(t, await setup(t, false));
});

t.test('no answer carries a path, a stack, CQL or the token (edge and admin ports)', async (t) => {
  await provokeEverything(t, await setup(t, true));
});

t.test('/docs and /metrics: public by default, behind the admin token or off by config', async (t) => {
  const get = (port: number, path: string, token: boolean) => rawRequest(port, 'GET', path, token ? { headers: AUTH } : {});
  const statuses = async (port: number, token: boolean) => [(await get(port, '/docs/json', token)).status, (await get(port, '/metrics', token)).status];

  const byDefault = await listening(t);
  t.same(await statuses(byDefault.edgePort, false), [200, 200], 'default, one port: both open (as before)');

  const separate = await listening(t, { separateAdmin: true });
  t.same(await statuses(separate.edgePort, false), [200, 404], 'default, admin port set: the edge has /docs (its own routes) but not /metrics');
  t.same(await statuses(separate.adminPort ?? 0, false), [200, 200], 'and the admin port has both, open');

  const guarded = await listening(t, { service: { http: { docs: 'admin', metrics: 'admin' } } });
  t.same(await statuses(guarded.edgePort, false), [401, 401], '"admin", one port: both want the token');
  t.same(await statuses(guarded.edgePort, true), [200, 200], 'and answer with it');
  const spec = JSON.parse((await get(guarded.edgePort, '/docs/json', true)).body) as { paths: Record<string, Record<string, { security?: unknown }>> };
  t.same(spec.paths['/metrics']?.['get']?.security, [{ adminToken: [] }], 'the document says /metrics needs the token');

  const moved = await listening(t, { separateAdmin: true, service: { http: { docs: 'admin', metrics: 'admin' } } });
  t.same(await statuses(moved.edgePort, true), [404, 404], '"admin", admin port set: neither is on the edge, token or not');
  t.same(await statuses(moved.adminPort ?? 0, false), [401, 401], 'the admin port wants the token');
  t.same(await statuses(moved.adminPort ?? 0, true), [200, 200], 'and answers with it');

  const off = await listening(t, { separateAdmin: true, service: { http: { docs: 'off', metrics: 'off' } } });
  for (const port of [off.edgePort, off.adminPort ?? 0])
    t.same(await statuses(port, true), [404, 404], `"off": neither exists on port ${port === off.edgePort ? 'edge' : 'admin'}`);

  const noToken = await listening(t, { adminToken: null, service: { http: { docs: 'admin', metrics: 'admin' } } });
  t.same(await statuses(noToken.edgePort, false), [404, 404], '"admin" with no admin token: they do not exist (never open)');
});

/**
 * The operator CLI as operators run it: `bin/license-accounting.mjs` in a child process, against
 * a temporary SQLite config, with no HTTP service running. dump, explain, snapshot, and
 * `replay --check` finding a deliberately corrupted snapshot (exit 1, the member named).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { parseConfig } from '../../src/config/load.ts';
import { createServer } from '../../src/server.ts';
import { decodeMemberState, encodeMemberState } from '../../src/store/codec/snapshot-codec.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { DAY, T0, TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'license-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const configPath = join(dir, 'config.json');
const dbPath = join(dir, 'events.db');
writeFileSync(
  configPath,
  JSON.stringify({
    service: { store: 'sqlite', sqlite: { path: 'events.db' }, clock: 'manual', actors: { workers: 0 }, snapshot: { eventCount: 4, replayMs: 1_000_000 } },
    rules: testRules(),
  }),
);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/license-accounting.mjs', '--config', configPath, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, LICENSE_CONFIG: '' } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const HEADERS = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
let licenseA = '';

t.before(async () => {
  // Write a history through the real service (then stop it): alice over 3 snapshots, bob with none.
  const config = parseConfig(
    JSON.parse(
      JSON.stringify({
        service: {
          store: 'sqlite',
          sqlite: { path: dbPath },
          clock: 'manual',
          actors: { workers: 0 },
          snapshot: { eventCount: 4, replayMs: 1_000_000 },
          admin: { token: TEST_ADMIN_TOKEN },
          rateLimit: null,
        },
        rules: testRules(),
      }),
    ),
    null,
  );
  const server = await createServer(config, { manualClockStart: T0, watchRules: false });
  const acquire = async (member: string, deviceId: string, titleId: string): Promise<string> => {
    const res = await server.app.inject({ method: 'POST', url: `/v1/members/${member}/licenses`, payload: { deviceId, titleId }, headers: HEADERS });
    if (res.statusCode !== 201) throw new Error(res.body);
    return (JSON.parse(res.body) as { licenseId: string }).licenseId;
  };
  licenseA = await acquire('alice', 'phone', 'strict-a');
  await server.app.inject({ method: 'POST', url: '/v1/admin/clock', payload: { advanceMs: DAY }, headers: HEADERS });
  await acquire('alice', 'phone', 'strict-b');
  await acquire('alice', 'tablet', 'open-a');
  await acquire('bob', 'tv', 'open-a');
  await server.close();
});

t.test('dump writes the member’s history as NDJSON', async (t) => {
  const run = await cli('dump', 'alice');
  t.equal(run.code, 0, run.stderr);
  const events = run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  t.equal(events.length, 8);
  t.same(
    events.map((e) => e['position']),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  t.match(events[0], { type: 'LicenseAcquired', rulesVersion: 'test-1', aggregate: { name: 'license', id: licenseA }, at: new Date(T0).toISOString() });
  const filtered = await cli('dump', 'alice', '--aggregate', 'device');
  t.same(
    filtered.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { aggregate: { id: string } }).aggregate.id),
    ['phone', 'tablet'],
  );
});

t.test('explain answers what an acquire would have decided at an instant', async (t) => {
  const run = await cli('explain', 'alice', '--title', 'strict-c', '--device', 'phone', '--at', new Date(T0 + DAY).toISOString());
  t.equal(run.code, 0, run.stderr);
  t.match(JSON.parse(run.stdout), { memberId: 'alice', allowed: false, reason: 'STUDIO_LIMIT', rulesVersion: 'test-1', limits: { maxActiveDownloadsPerStudio: 2 } });
  const early = await cli('explain', 'alice', '--title', 'strict-c', '--device', 'phone', '--at', new Date(T0).toISOString());
  t.match(JSON.parse(early.stdout), { allowed: true, counting: { maxActiveDownloadsPerStudio: [{ licenseId: licenseA }] } });
  const missing = await cli('explain', 'alice', '--title', 'strict-c');
  t.equal(missing.code, 2, 'bad usage exits 2');
  t.match(missing.stderr, /--title and --device/);
});

t.test('snapshot writes a snapshot of the member now', async (t) => {
  const store = new SqliteEventStore(dbPath);
  const before = await store.readHead('bob');
  await store.close();
  t.same(before, { generation: 0, position: 3 });
  const run = await cli('snapshot', 'bob');
  t.equal(run.code, 0, run.stderr);
  t.match(JSON.parse(run.stdout), { memberId: 'bob', snapshot: 'written', generation: 1, position: 3, eventsCovered: 3 });
  const again = await cli('snapshot', 'bob');
  t.match(JSON.parse(again.stdout), { snapshot: 'unchanged', generation: 1 });
  const nobody = await cli('snapshot', 'nobody');
  t.equal(nobody.code, 1);
  t.match(nobody.stderr, /no events/);
});

t.test('replay --check passes on good snapshots and finds a corrupted one', async (t) => {
  const ok = await cli('replay', '--check');
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /checked 2 member\(s\): 2 snapshot\(s\) match, 0 mismatch\(es\)/);
  t.equal(ok.stderr, '', 'no progress bar when stderr is not a TTY');

  // Overwrite alice's latest snapshot with a different, valid state: one license dropped.
  const db = new Database(dbPath);
  const row = db.prepare('SELECT generation, schema_version, payload FROM snapshots WHERE member_id = ? ORDER BY generation DESC LIMIT 1').get('alice') as {
    generation: number;
    schema_version: number;
    payload: string;
  };
  const state = decodeMemberState(row.schema_version, row.payload);
  t.ok(state.licenses.delete(licenseA), 'the snapshot held license A');
  db.prepare('UPDATE snapshots SET payload = ? WHERE member_id = ? AND generation = ?').run(encodeMemberState(state), 'alice', row.generation);
  db.close();

  const bad = await cli('replay', '--check');
  t.equal(bad.code, 1, 'mismatches exit 1');
  t.match(bad.stdout, new RegExp(`MISMATCH alice snapshot generation ${row.generation}`));
  t.match(bad.stdout, new RegExp(`licenses/${licenseA}: in the events, missing from the snapshot`));
  t.notMatch(bad.stdout, /MISMATCH bob/);
  t.match(bad.stdout, /checked 2 member\(s\): 1 snapshot\(s\) match, 1 mismatch\(es\)/);

  t.equal((await cli('replay')).code, 2, 'replay without --check is bad usage');
});

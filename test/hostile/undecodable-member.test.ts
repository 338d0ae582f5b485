/**
 * A member whose stored rows cannot be used (an unknown type, a newer schema version, a payload
 * that is not JSON or lacks a field, a row under the wrong aggregate, an event that does not
 * apply) is never a permanent 500 for the edge: its checks answer the documented fallback
 * (allowed, as for a member with no licenses) marked `x-license-degraded: undecodable-history`
 * and counted; its commands are refused with 503 EVENT_DECODE_FAILED and write nothing; the
 * debug API shows the raw row with its decode error. The operator's way out is
 * `license-accounting repair`, which appends a void (history is never edited); then the member
 * is served again, on SQLite through the real CLI, and on Cassandra through the same code.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import { createServer } from '../../src/server.ts';
import { voidRow } from '../../src/cli/repair.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import { EMPTY_HEAD, type EventStore, type NewEventRecord } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { startActorServer } from '../actors/support.ts';
import { acquire, call, check, get, server, type Answer, type Asserts, type Json } from '../http/http-support.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { T0, TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/process.ts';

const DAY = 86_400_000;

function row(o: Partial<NewEventRecord> & Pick<NewEventRecord, 'aggregateName' | 'aggregateId' | 'type' | 'payload'>): NewEventRecord {
  return { at: T0, schemaVersion: 1, serializer: 'json', rulesVersion: 'test-1', requestId: null, ...o };
}

/** A member's first acquisition, as the service writes it (positions 1 to 3). */
function acquisition(licenseId: string, overrides: Partial<NewEventRecord> = {}): NewEventRecord[] {
  return [
    row({
      aggregateName: 'license',
      aggregateId: licenseId,
      type: 'LicenseAcquired',
      payload: JSON.stringify({ licenseId, deviceId: 'phone', titleId: 'open-a', studioId: 'open', expiresAt: T0 + 30 * DAY }),
      ...overrides,
    }),
    row({
      aggregateName: 'downloaded',
      aggregateId: 'open-a',
      type: 'TitleDownloaded',
      payload: JSON.stringify({ titleId: 'open-a', licenseId, deviceId: 'phone', via: 'acquire' }),
    }),
    row({ aggregateName: 'device', aggregateId: 'phone', type: 'DeviceRegistered', payload: '{"deviceId":"phone"}' }),
  ];
}

/** Rows a member's history may hold that this code cannot use, each after a good acquisition of L1. */
const BAD_ROWS: { label: string; row: NewEventRecord; shown: RegExp | null }[] = [
  { label: 'an unknown type', row: row({ aggregateName: 'license', aggregateId: 'L1', type: 'LicenseTeleported', payload: '{"licenseId":"L1"}' }), shown: /unknown event type/ },
  {
    label: 'a newer schema version',
    row: row({ aggregateName: 'license', aggregateId: 'L1', type: 'LicenseReleased', schemaVersion: 9, payload: '{"licenseId":"L1"}' }),
    shown: /newer schema/,
  },
  {
    label: 'a payload that is not JSON',
    row: row({ aggregateName: 'license', aggregateId: 'L1', type: 'LicenseReleased', schemaVersion: 2, payload: '{"licen' }),
    shown: /not JSON/,
  },
  {
    label: 'a payload without a field',
    row: row({ aggregateName: 'license', aggregateId: 'L1', type: 'LicenseRenewed', payload: '{"licenseId":"L1","renewals":1}' }),
    shown: /"expiresAt" is missing or invalid/,
  },
  {
    label: 'a row under another aggregate',
    row: row({ aggregateName: 'license', aggregateId: 'L9', type: 'LicenseReleased', schemaVersion: 2, payload: '{"licenseId":"L1","cause":"member"}' }),
    shown: /names aggregate license\/L1/,
  },
  // Decodes, but renews a license the member never acquired: shown as data, refused by the fold.
  {
    label: 'an event that does not apply',
    row: row({ aggregateName: 'license', aggregateId: 'L7', type: 'LicenseRenewed', payload: `{"licenseId":"L7","expiresAt":${T0 + 60 * DAY},"renewals":1}` }),
    shown: null,
  },
];

function expectUnreadable(t: Asserts, res: Answer, label: string): void {
  t.equal(res.status, 503, `${label}: 503, not a 500 (${res.raw})`);
  t.equal(res.body['code'], 'EVENT_DECODE_FAILED', `${label}: EVENT_DECODE_FAILED`);
  t.match(String(res.body['message']), /position=4/, `${label}: the message names the row`);
}

t.test('through the HTTP app: the check falls back, commands refuse, the debug API shows the row', async (t) => {
  const s = await server(t);
  for (const [index, bad] of BAD_ROWS.entries()) {
    const member = `bad-${index}`;
    const head = await s.store.append(member, await s.store.append(member, EMPTY_HEAD, acquisition('L1')), [bad.row]);
    t.test(bad.label, async (t) => {
      const checked = await check(s, member, { deviceId: 'tablet', titleId: 'open-a' });
      t.equal(checked.status, 200, 'the check answers');
      t.same(checked.body, { allowed: true, rulesVersion: 'test-1' }, 'what the edge fallback answers: allowed');
      t.equal(checked.headers['x-license-degraded'], 'undecodable-history', 'marked degraded');
      t.equal((await check(s, member, { deviceId: 'tablet', titleId: 'open-a', plan: 'gold' })).status, 400, 'bad input is still bad input');

      const acquired = await acquire(s, member, 'tablet', 'open-a');
      expectUnreadable(t, acquired, 'acquire');
      t.equal(acquired.headers['retry-after'], '300', 'no quick retry: it needs an operator');
      expectUnreadable(t, await call(s, { method: 'POST', url: `/v1/members/${member}/licenses/L1/release` }), 'release');
      expectUnreadable(t, await get(s, `/v1/members/${member}/licenses`), 'list');
      expectUnreadable(t, await get(s, `/v1/debug/members/${member}/state`), 'debug state');
      t.same(await s.store.readHead(member), head, 'nothing was written');

      const events = await get(s, `/v1/debug/members/${member}/events`);
      t.equal(events.status, 200);
      const shown = (events.body['events'] as Json[]).find((e) => e['position'] === 4);
      if (bad.shown === null) {
        t.ok(shown?.['data'], 'a row that decodes is shown with its data');
      } else {
        t.equal(shown?.['payload'], bad.row.payload, 'the raw payload');
        t.match(shown?.['decodeError'], bad.shown, 'and its decode error');
        t.notOk(shown && 'data' in shown);
      }
    });
  }
  t.test('counted in decisions_total', async (t) => {
    const metrics = await s.app.inject({ method: 'GET', url: '/metrics' });
    const line = /^decisions_total\{command="Check",outcome="degraded",reason="EVENT_DECODE_FAILED"\} (\d+)/m.exec(metrics.body);
    t.equal(Number(line?.[1]), BAD_ROWS.length, 'one per degraded check');
  });
  t.test('other members are served', async (t) => {
    t.equal((await acquire(s, 'healthy', 'phone', 'open-a')).status, 201);
  });
});

t.test('through a real worker pool', async (t) => {
  const s = await startActorServer(t, 'sqlite', { actors: { workers: 1 } });
  await s.store.append('pooled', await s.store.append('pooled', EMPTY_HEAD, acquisition('L1')), [BAD_ROWS[1]!.row]);
  const checked = await check(s, 'pooled', { deviceId: 'tablet', titleId: 'open-a' });
  t.equal(checked.status, 200);
  t.equal(checked.headers['x-license-degraded'], 'undecodable-history');
  expectUnreadable(t, await acquire(s, 'pooled', 'tablet', 'open-a'), 'acquire in a worker');
});

t.test('an undecodable snapshot is skipped: the member is rebuilt from its events', async (t) => {
  // No snapshot by replay time: on a busy machine the rebuild could take snapshot.replayMs and
  // write a good snapshot over the bad one before the debug API is asked to show it.
  const s = await server(t, { service: { snapshot: { eventCount: 200, replayMs: 60_000 } } });
  const head = await s.store.append('snap', EMPTY_HEAD, acquisition('L1'));
  // Version 1 in name, but an expiry no date-time can show: decoding it refuses it.
  const state = {
    licenses: [
      {
        licenseId: 'L1',
        deviceId: 'phone',
        titleId: 'open-a',
        studioId: 'open',
        acquiredAt: T0,
        expiresAt: 9e15,
        renewals: 0,
        releasedAt: null,
        releaseCause: null,
        playbackSessions: 0,
        playbackMs: 0,
      },
    ],
    downloaded: [],
    devices: [],
    requests: [],
    lastEventAt: T0,
  };
  await s.store.writeSnapshot('snap', head, { takenAt: T0, schemaVersion: 1, payload: JSON.stringify(state) });
  const listed = await get(s, '/v1/members/snap/licenses');
  t.equal(listed.status, 200, listed.raw);
  t.equal((listed.body['licenses'] as Json[])[0]?.['expiresAt'], new Date(T0 + 30 * DAY).toISOString(), 'from the events');
  const shown = await get(s, '/v1/debug/members/snap/state');
  t.equal(shown.status, 200);
  t.match(
    shown.body['latestSnapshot'],
    { generation: 1, position: 3, schemaVersion: 1, usable: false, payload: JSON.stringify(state), decodeError: /bad time/ },
    'the debug API shows the raw snapshot row with its decode error',
  );
  await s.store.writeSnapshot(
    'snap',
    { generation: 1, position: 3 },
    { takenAt: T0, schemaVersion: 1, payload: JSON.stringify({ ...state, licenses: [{ ...state.licenses[0], expiresAt: T0 + 30 * DAY }] }) },
  );
  const fixed = await get(s, '/v1/debug/members/snap/state');
  t.match(fixed.body['latestSnapshot'], { generation: 2, usable: true });
  t.notOk('payload' in (fixed.body['latestSnapshot'] as Json), 'a usable snapshot is not dumped');
});

t.test('license-accounting repair: list, void (compensating row), served again (SQLite, real CLI)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'undecodable-repair-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.json');
  const dbPath = join(dir, 'events.db');
  const service = { store: 'sqlite', sqlite: { path: dbPath }, clock: 'manual', actors: { workers: 0 }, admin: { token: TEST_ADMIN_TOKEN }, rateLimit: null };
  await writeFile(configPath, JSON.stringify({ service, rules: testRules() }));
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/license-accounting.mjs', '--config', configPath, ...args],
        { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, LICENSE_CONFIG: '' } },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const lines = (text: string): Json[] =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Json);

  {
    const store = new SqliteEventStore(dbPath);
    // mend: a release written by a newer service version (v9), after a good acquisition.
    await store.append('mend', await store.append('mend', EMPTY_HEAD, acquisition('L1')), [BAD_ROWS[1]!.row]);
    // orphan: the acquisition itself is unreadable, and a later renewal of it only applies on top of it.
    const orphanHead = await store.append('orphan', EMPTY_HEAD, acquisition('L2', { schemaVersion: 9 }));
    await store.append('orphan', orphanHead, [
      row({ aggregateName: 'license', aggregateId: 'L2', at: T0 + DAY, type: 'LicenseRenewed', payload: `{"licenseId":"L2","expiresAt":${T0 + 60 * DAY},"renewals":1}` }),
    ]);
    await store.close();
  }

  const listed = await cli('repair', 'mend');
  t.equal(listed.code, 1, 'exit 1 while a row is not voided');
  t.match(lines(listed.stdout), [
    { generation: 0, position: 4, type: 'LicenseReleased', schemaVersion: 9, voided: false, error: /newer schema/ },
    { memberId: 'mend', notVoided: 1, serviceable: false, latestSnapshot: null },
  ]);

  t.equal((await cli('repair', 'mend', '--void', '0:4')).code, 2, 'a void needs a reason');
  t.equal((await cli('repair', 'mend', '--void', 'four', '--reason', 'x')).code, 2, 'and a generation:position');
  const fine = await cli('repair', 'mend', '--void', '0:2', '--reason', 'x');
  t.equal(fine.code, 1, 'a row that reads fine cannot be voided');
  t.match(fine.stderr, /reads and applies fine/);
  t.match((await cli('repair', 'mend', '--void', '0:9', '--reason', 'x')).stderr, /does not exist/);

  const voided = await cli('repair', 'mend', '--void', '0:4', '--reason', 'written by v9 before the rollback');
  t.equal(voided.code, 0, voided.stderr);
  t.match(lines(voided.stdout), [
    { memberId: 'mend', outcome: 'voided', voided: { generation: 0, position: 4 }, void: { generation: 0, position: 5 }, notVoided: [], serviceable: true },
  ]);
  const again = await cli('repair', 'mend', '--void', '0:4', '--reason', 'again');
  t.equal(again.code, 0, 'voiding twice changes nothing');
  t.match(lines(again.stdout), [{ outcome: 'already voided' }]);
  t.equal((await cli('repair', 'mend')).code, 0, 'the list is clean now');
  const orphan = await cli('repair', 'orphan', '--void', '0:1', '--reason', 'acquired by v9');
  t.match(lines(orphan.stdout), [{ outcome: 'voided', serviceable: true }], 'the renewal that depended on it goes with it');

  const config = parseConfig(JSON.parse(JSON.stringify({ service, rules: testRules() })), null);
  const s = await createServer(config, { manualClockStart: T0 + 2 * DAY, watchRules: false });
  t.teardown(() => s.close());
  const checked = await check(s, 'mend', { deviceId: 'phone', titleId: 'open-a' });
  t.equal(checked.status, 200);
  t.notOk(checked.headers['x-license-degraded'], 'no longer degraded');
  t.same(
    (await get(s, '/v1/members/mend/licenses')).body['licenses'],
    [
      {
        licenseId: 'L1',
        deviceId: 'phone',
        titleId: 'open-a',
        studioId: 'open',
        acquiredAt: new Date(T0).toISOString(),
        expiresAt: new Date(T0 + 30 * DAY).toISOString(),
        renewals: 0,
        expired: false,
      },
    ],
    'rebuilt as if the voided release had never been written',
  );
  t.equal((await acquire(s, 'mend', 'phone', 'open-a')).status, 201, 'commands work again');

  const events = (await get(s, '/v1/debug/members/mend/events')).body['events'] as Json[];
  t.match(events[3], { position: 4, type: 'LicenseReleased', decodeError: /newer schema/ }, 'the bad row is still there: history is never edited');
  t.match(events[4], {
    position: 5,
    type: 'EventVoided',
    aggregate: { name: 'license', id: 'L1' },
    data: { generation: 0, position: 4, type: 'LicenseReleased', schemaVersion: 9, reason: 'written by v9 before the rollback' },
  });
  const state = await get(s, '/v1/debug/members/mend/state');
  t.match(state.body['skippedRows'], [{ generation: 0, position: 4, voidedBy: { generation: 0, position: 5 } }]);

  t.same((await get(s, '/v1/members/orphan/licenses')).body['licenses'], [], 'orphan: neither the voided acquisition nor its renewal count');
  const orphanState = await get(s, '/v1/debug/members/orphan/state');
  t.same(
    (orphanState.body['skippedRows'] as Json[]).map((r) => r['position']),
    [1, 4],
  );
  t.equal((await acquire(s, 'orphan', 'phone', 'open-a')).status, 201);
});

t.test('the same repair on Cassandra (the store contract: a fenced, head-checked append)', async (t) => {
  let store: EventStore;
  try {
    store = await CassandraEventStore.connect(cassandraTestSettings());
  } catch (error) {
    t.fail(`Cassandra is needed for this test: ${(error as Error).message}`);
    return;
  }
  t.teardown(() => store.close());
  const member = `repair-${randomUUID().slice(0, 8)}`;
  await store.append(member, await store.append(member, EMPTY_HEAD, acquisition('L1')), [BAD_ROWS[0]!.row]);
  const repository = new MemberRepository(store, { eventCount: 1_000, replayMs: 1_000_000 });
  await t.rejects(repository.load(member), { code: 'EVENT_DECODE_FAILED' }, 'unreadable before');
  const output = await voidRow(store, member, { generation: 0, position: 4 }, { reason: 'test', rulesVersion: 'test-1', now: () => T0 + DAY });
  t.match(output.lines, [{ outcome: 'voided', void: { generation: 0, position: 5 }, serviceable: true }]);
  const loaded = await repository.load(member);
  t.same([...loaded.state.licenses.keys()], ['L1'], 'served again');
  t.same(loaded.head, { generation: 0, position: 5 });
});

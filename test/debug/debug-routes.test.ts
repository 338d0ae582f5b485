/**
 * The debug API against a server on an in-memory SQLite store (workers 0): the history with its
 * filters (JSON and NDJSON), the state at an instant rebuilt from events alone, and explain
 * across a rules change (an old instant explains with the old rules version).
 */
import t from 'tap';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { acquireOk, call, expectError, expectInvalid, iso, releaseOk, server, type Answer, type Asserts, type Json } from '../http/http-support.ts';
import { DAY, T0, TEST_ADMIN_TOKEN, testRules, type TestServer } from '../support/fixtures.ts';

const AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** A debug GET with the admin token (the debug routes sit behind it). */
function get(s: TestServer, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return call(s, { method: 'GET', url, headers: { ...AUTH, ...headers } });
}

async function advance(t: Asserts, s: TestServer, ms: number): Promise<void> {
  const res = await call(s, { method: 'POST', url: '/v1/admin/clock', payload: { advanceMs: ms }, headers: AUTH });
  t.equal(res.status, 200, `clock advances: ${res.raw}`);
}

const HOUR = 3_600_000;

function rulesV2() {
  const rules = testRules({ version: 'test-2' });
  // test-2 lets a member hold 3 downloads of the strict studio at once (test-1: 2).
  rules.studios['strict'] = { ...rules.studios['strict'], maxActiveDownloadsPerStudio: 3 };
  return rules;
}

t.test('events: full history across generations, in order, with filters, JSON and NDJSON', async (t) => {
  // Snapshots after every 2 events: the history spans several generations.
  const s = await server(t, { service: { snapshot: { eventCount: 2, replayMs: 1_000_000 } } });
  const phone = await acquireOk(t, s, 'ev', 'phone', 'open-a', { requestId: 'r-1' });
  await advance(t, s, HOUR);
  await acquireOk(t, s, 'ev', 'tablet', 'strict-a');
  await advance(t, s, HOUR);
  await releaseOk(t, s, 'ev', phone);
  const head = await s.store.readHead('ev');
  t.ok(head.generation >= 2, `history spans generations (head ${head.generation}/${head.position})`);

  const all = await get(s, '/v1/debug/members/ev/events');
  t.equal(all.status, 200, all.raw);
  t.match(all.headers['content-type'], /application\/json/);
  t.equal(all.body['memberId'], 'ev');
  const events = all.body['events'] as Json[];
  t.equal(events.length, 7, 'acquire: 3 events, acquire on a new device: 3, release: 1');
  t.same(
    events.map((e) => e['position']),
    [1, 2, 3, 4, 5, 6, 7],
    'member-wide order',
  );
  t.same(
    events.map((e) => e['type']),
    ['LicenseAcquired', 'TitleDownloaded', 'DeviceRegistered', 'LicenseAcquired', 'TitleDownloaded', 'DeviceRegistered', 'LicenseReleased'],
  );
  t.match(events[0], {
    position: 1,
    generation: 0,
    type: 'LicenseAcquired',
    schemaVersion: 1,
    at: iso(T0),
    aggregate: { name: 'license', id: phone },
    rulesVersion: 'test-1',
    requestId: 'r-1',
    data: { licenseId: phone, deviceId: 'phone', titleId: 'open-a' },
  });
  t.equal(events[6]?.['schemaVersion'], 2, 'LicenseReleased is written at schema version 2');
  t.ok(new Set(events.map((e) => e['generation'])).size > 1, 'events come from several generations');

  const licensesOnly = await get(s, '/v1/debug/members/ev/events?aggregate=license');
  t.same(
    (licensesOnly.body['events'] as Json[]).map((e) => e['type']),
    ['LicenseAcquired', 'LicenseAcquired', 'LicenseReleased'],
  );
  const onePhone = await get(s, `/v1/debug/members/ev/events?aggregate=license&aggregateId=${phone}`);
  t.same(
    (onePhone.body['events'] as Json[]).map((e) => e['position']),
    [1, 7],
  );
  const window = await get(s, `/v1/debug/members/ev/events?from=${iso(T0 + HOUR)}&to=${iso(T0 + HOUR)}`);
  t.same(
    (window.body['events'] as Json[]).map((e) => e['position']),
    [4, 5, 6],
    'from and to are inclusive',
  );

  const nd = await s.app.inject({ method: 'GET', url: '/v1/debug/members/ev/events?aggregate=device', headers: { ...AUTH, accept: 'application/x-ndjson' } });
  t.equal(nd.statusCode, 200);
  t.match(nd.headers['content-type'], /application\/x-ndjson/);
  const lines = nd.body.split('\n');
  t.equal(lines.pop(), '', 'every line ends with a newline');
  t.same(
    lines.map((l) => (JSON.parse(l) as Json)['aggregate']),
    [
      { name: 'device', id: 'phone' },
      { name: 'device', id: 'tablet' },
    ],
  );

  const unauthorized = await s.app.inject({ method: 'GET', url: '/v1/debug/members/ev/events' });
  t.equal(unauthorized.statusCode, 401, 'the debug routes sit behind the admin token');

  const none = await get(s, '/v1/debug/members/nobody/events');
  t.equal(none.status, 200);
  t.same(none.body, { memberId: 'nobody', events: [] }, 'a member never written has an empty history');

  expectInvalid(t, await get(s, '/v1/debug/members/ev/events?aggregate=member'), 'querystring.aggregate');
  expectInvalid(t, await get(s, '/v1/debug/members/ev/events?from=yesterday'), 'querystring.from');
  expectInvalid(t, await get(s, '/v1/debug/members/ev/events?limit=3'), 'querystring.limit');
});

t.test('state: every aggregate as of an instant, rebuilt from events alone', async (t) => {
  const store = new SqliteEventStore(':memory:');
  const s = await server(t, { store, service: { snapshot: { eventCount: 2, replayMs: 1_000_000 } } });
  const a = await acquireOk(t, s, 'st', 'phone', 'strict-a');
  await advance(t, s, DAY);
  const b = await acquireOk(t, s, 'st', 'phone', 'strict-b');
  await advance(t, s, DAY);
  await releaseOk(t, s, 'st', a);

  const before = await get(s, `/v1/debug/members/st/state?at=${iso(T0 - 1)}`);
  t.equal(before.status, 200, before.raw);
  t.match(before.body, { memberId: 'st', at: iso(T0 - 1), eventsApplied: 0, lastEvent: null, licenses: [], downloaded: [], devices: [] });

  const day1 = await get(s, `/v1/debug/members/st/state?at=${iso(T0 + DAY)}`);
  t.equal(day1.body['eventsApplied'], 5, 'two acquires (the second on a known device adds no DeviceRegistered)');
  const l1 = day1.body['licenses'] as Json[];
  t.same(l1.map((l) => l['licenseId']).sort(), [a, b].sort());
  t.ok(
    l1.every((l) => l['releasedAt'] === null),
    'nothing released yet at that instant',
  );
  t.match(day1.body['devices'], [{ deviceId: 'phone', status: 'active', registeredAt: iso(T0) }]);
  t.match(day1.body['lastEvent'], { at: iso(T0 + DAY), rulesVersion: 'test-1' });

  const now = await get(s, '/v1/debug/members/st/state');
  t.equal(now.body['at'], iso(T0 + 2 * DAY), 'at defaults to the service clock');
  const released = (now.body['licenses'] as Json[]).find((l) => l['licenseId'] === a);
  t.equal(released?.['releasedAt'], iso(T0 + 2 * DAY));

  // Not from snapshots: a snapshot that lies does not change what the events say.
  const snap = await store.readLatestSnapshot('st');
  t.ok(snap, 'snapshots were taken');
  const again = await get(s, `/v1/debug/members/st/state?at=${iso(T0 + DAY)}`);
  t.same(again.body, day1.body);

  expectInvalid(t, await get(s, '/v1/debug/members/st/state?at=tomorrow'), 'querystring.at');
  expectInvalid(t, await get(s, '/v1/debug/members/st/state?at=2026-06-30T23:59:60Z'), 'querystring.at');
});

t.test('explain: time travel across a rules change', async (t) => {
  const s = await server(t);
  t.match(await s.store.readRulesVersion('test-1'), { version: 'test-1', firstSeenAt: T0 }, 'the rules in force at start are saved');
  const a = await acquireOk(t, s, 'tt', 'phone', 'strict-a');
  await advance(t, s, HOUR);
  const b = await acquireOk(t, s, 'tt', 'phone', 'strict-b');
  await advance(t, s, DAY);

  t.equal(s.rules.replace(rulesV2()).outcome, 'applied');
  const saved = await s.store.readRulesVersion('test-2');
  t.ok(saved, 'an applied reload saves the new rules version');
  t.equal((JSON.parse(saved?.rulesJson ?? '{}') as { studios: { strict: { maxActiveDownloadsPerStudio: number } } }).studios.strict.maxActiveDownloadsPerStudio, 3);
  const c = await acquireOk(t, s, 'tt', 'phone', 'strict-c');
  const afterChange = T0 + HOUR + DAY;

  // Under test-1 the member was at the studio limit two hours in.
  const old = await get(s, `/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-c&at=${iso(T0 + 2 * HOUR)}`);
  t.equal(old.status, 200, old.raw);
  t.match(old.body, {
    memberId: 'tt',
    allowed: false,
    reason: 'STUDIO_LIMIT',
    rulesVersion: 'test-1',
    rulesVersionSource: 'member-events',
    at: iso(T0 + 2 * HOUR),
    limits: { plan: 'standard', maxDownloadDevices: 2, maxActiveDownloadsPerDevice: 5, studioId: 'strict', maxActiveDownloadsPerStudio: 2, yearlyTitleLimit: 2 },
  });
  const oldCounting = old.body['counting'] as Record<string, Json[]>;
  t.same(oldCounting['maxActiveDownloadsPerStudio']?.map((l) => l['licenseId']).sort(), [a, b].sort());
  t.match(oldCounting['maxActiveDownloadsPerStudio']?.[0], { event: { type: 'LicenseAcquired', generation: 0 } });
  t.same(
    oldCounting['maxDownloadDevices']?.map((d) => d['deviceId']),
    ['phone'],
  );
  t.same(oldCounting['yearlyTitleLimit'], [], 'strict-c was never downloaded by then');

  // A new instant explains with test-2 (the version of the member's newest decision).
  const fresh = await get(s, `/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-a&at=${iso(afterChange)}`);
  t.match(fresh.body, { allowed: false, reason: 'STUDIO_LIMIT', rulesVersion: 'test-2', limits: { maxActiveDownloadsPerStudio: 3 } });
  const counting = fresh.body['counting'] as Record<string, Json[]>;
  t.same(counting['maxActiveDownloadsPerStudio']?.map((l) => l['licenseId']).sort(), [a, b, c].sort());
  t.match(counting['yearlyTitleLimit'], [{ at: iso(T0), licenseId: a, via: 'acquire', event: { type: 'TitleDownloaded' } }]);

  // The same old instant under an explicitly requested version.
  const asked = await get(s, `/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-c&at=${iso(T0 + 2 * HOUR)}&rulesVersion=test-2`);
  t.match(asked.body, { allowed: true, rulesVersion: 'test-2', rulesVersionSource: 'requested', limits: { maxActiveDownloadsPerStudio: 3 } });

  // Before any event: the rules in force now.
  const early = await get(s, `/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-a&at=${iso(T0 - DAY)}`);
  t.match(early.body, { allowed: true, rulesVersion: 'test-2', rulesVersionSource: 'current' });
  t.notOk('reason' in early.body);

  // Plans: the limits of the plan asked for.
  const basic = await get(s, `/v1/debug/members/tt/explain?deviceId=tablet&titleId=open-a&plan=basic`);
  t.match(basic.body, { allowed: false, reason: 'DEVICE_LIMIT', limits: { plan: 'basic', maxDownloadDevices: 1 } });

  expectError(t, await get(s, '/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-a&rulesVersion=nope'), 404, 'RULES_VERSION_NOT_FOUND');
  expectError(t, await get(s, '/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-a&plan=gold'), 400, 'UNKNOWN_PLAN');
  expectInvalid(t, await get(s, '/v1/debug/members/tt/explain?titleId=strict-a'), 'querystring.deviceId');
  expectInvalid(t, await get(s, '/v1/debug/members/tt/explain?deviceId=phone&titleId=strict-a&at=soon'), 'querystring.at');
});

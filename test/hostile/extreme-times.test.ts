/**
 * Extreme times: every time the service accepts (the manual clock, playback sessions, the debug
 * API's `at`/`from`/`to`, the CLI's flags) and every time it computes and stores (an expiry, a
 * renewal, the next slot of a rolling limit) stays within 1970-01-01T00:00:00.000Z to
 * 9999-12-31T23:59:59.999Z. Outside is 400 TIME_OUT_OF_RANGE naming the field (a string that is
 * not a date-time at all stays VALIDATION_FAILED), nothing is written, never a 500; and what was
 * written at the edges of the range reads back after a restart. The worker threads follow the
 * manual clock backwards as well as forwards.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { DomainEvent } from '../../src/domain/events.ts';
import { MAX_INSTANT, MAX_ISO, MIN_ISO } from '../../src/domain/time-range.ts';
import { decodeEvent, encodeEvent } from '../../src/store/codec/event-codec.ts';
import { EMPTY_HEAD } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { acquire as actorAcquire, startActorServer } from '../actors/support.ts';
import { acquire, acquireOk, call, check, expectError, get, licenses, playback, post, release, renew, server, type Answer, type Asserts } from '../http/http-support.ts';
import { DAY, T0, startTestServer, testRules, type TestServer } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/process.ts';

/** A 400 TIME_OUT_OF_RANGE whose `field` (and message) name the offending time. */
function expectOutOfRange(t: Asserts, res: Answer, field: string, label = field): void {
  expectError(t, res, 400, 'TIME_OUT_OF_RANGE', label);
  t.equal(res.body['field'], field, `${label}: field ${field}`);
  t.match(String(res.body['message']), field, `${label}: the message names ${field}`);
}

function setClock(s: TestServer, now: string): Promise<Answer> {
  return post(s, '/v1/admin/clock', { now });
}

const BEFORE_1970 = ['1969-12-31T23:59:59.999Z', '0000-01-01T00:00:00Z', '1970-01-01T00:00:00+00:01'];
// Within the date-time format (four-digit year), but after the end once the offset is applied.
const AFTER_9999 = ['9999-12-31T23:59:59-00:01', '9999-12-31T23:30:00-01:00'];

t.test('the manual clock: in range, backwards by `now`, never outside', async (t) => {
  const s = await server(t);
  for (const now of [...BEFORE_1970, ...AFTER_9999]) expectOutOfRange(t, await setClock(s, now), 'body.now', now);
  expectError(t, await setClock(s, '10000-01-01T00:00:00Z'), 400, 'VALIDATION_FAILED', 'a five-digit year is not a date-time');
  t.equal(s.clock.now(), T0, 'refused moves leave the clock alone');

  t.same((await setClock(s, MIN_ISO)).body, { now: MIN_ISO }, 'the first instant is accepted');
  t.same((await setClock(s, MAX_ISO)).body, { now: MAX_ISO }, 'the last instant is accepted');
  expectOutOfRange(t, await post(s, '/v1/admin/clock', { advanceMs: 1 }), 'body.advanceMs', 'one millisecond past the end');
  expectError(t, await post(s, '/v1/admin/clock', { advanceMs: 1e300 }), 400, 'VALIDATION_FAILED', 'a huge step');
  expectError(t, await post(s, '/v1/admin/clock', { advanceMs: -1 }), 400, 'VALIDATION_FAILED', 'advanceMs only moves forward');
  t.equal(s.clock.now(), MAX_INSTANT);
  t.same((await setClock(s, '2026-01-01T00:00:00Z')).body, { now: '2026-01-01T00:00:00.000Z' }, 'backwards by setting an earlier now');
});

t.test('playback sessions: startedAt and its end (startedAt + durationMs) in range, nothing written otherwise', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'player', 'phone', 'open-a');
  const head = await s.store.readHead('player');
  const session = (startedAt: string, durationMs = 1000) => ({ events: [{ sessionId: 's1', startedAt, durationMs }] });
  for (const startedAt of [...BEFORE_1970, ...AFTER_9999]) {
    expectOutOfRange(t, await playback(s, 'player', licenseId, session(startedAt)), 'body.events.0.startedAt', startedAt);
  }
  expectOutOfRange(t, await playback(s, 'player', licenseId, session('9999-12-31T23:59:59.000Z', 1000)), 'body.events.0.durationMs', 'a session ending after the range');
  expectOutOfRange(
    t,
    await playback(s, 'player', licenseId, {
      events: [
        { sessionId: 'ok', startedAt: '2026-01-01T00:00:00Z', durationMs: 5 },
        { sessionId: 'bad', startedAt: '1969-01-01T00:00:00Z', durationMs: 5 },
      ],
    }),
    'body.events.1.startedAt',
    'the second of two',
  );
  t.same(await s.store.readHead('player'), head, 'nothing was written');
  const edge = await playback(s, 'player', licenseId, session('9999-12-31T23:59:58.999Z', 1000));
  t.equal(edge.status, 202, `a session ending on the last instant is recorded: ${edge.raw}`);
  const first = await playback(s, 'player', licenseId, session(MIN_ISO, 0));
  t.equal(first.status, 202, 'a session at the first instant is recorded');
});

t.test('the debug API: at, from and to in range', async (t) => {
  const s = await server(t);
  await acquireOk(t, s, 'dbg', 'phone', 'open-a');
  for (const bad of [...BEFORE_1970, ...AFTER_9999]) {
    const q = encodeURIComponent(bad);
    expectOutOfRange(t, await get(s, `/v1/debug/members/dbg/state?at=${q}`), 'querystring.at', `state at ${bad}`);
    expectOutOfRange(t, await get(s, `/v1/debug/members/dbg/explain?deviceId=d&titleId=x&at=${q}`), 'querystring.at', `explain at ${bad}`);
    expectOutOfRange(t, await get(s, `/v1/debug/members/dbg/events?from=${q}`), 'querystring.from', `events from ${bad}`);
    expectOutOfRange(t, await get(s, `/v1/debug/members/dbg/events?to=${q}`), 'querystring.to', `events to ${bad}`);
  }
  const early = await get(s, `/v1/debug/members/dbg/state?at=${MIN_ISO}`);
  t.equal(early.status, 200, 'the state at the first instant');
  t.equal(early.body['eventsApplied'], 0);
  const late = await get(s, `/v1/debug/members/dbg/explain?deviceId=d&titleId=open-a&at=${MAX_ISO}`);
  t.equal(late.status, 200, `explain at the last instant: ${late.raw}`);
  t.equal(late.body['at'], MAX_ISO);
});

t.test('computed times: an expiry or renewal past the end is refused, nothing written; the next slot past the end is null', async (t) => {
  const s = await server(t);
  // At the last instant an acquire would expire after it: refused, by the check as by the acquire.
  await setClock(s, MAX_ISO);
  expectOutOfRange(t, await acquire(s, 'late', 'phone', 'open-a'), 'expiresAt', 'acquire at the last instant');
  expectOutOfRange(t, await check(s, 'late', { deviceId: 'phone', titleId: 'open-a' }), 'expiresAt', 'the check decides the same');
  t.same(await s.store.readHead('late'), EMPTY_HEAD, 'nothing was written');

  // 40 days before the end a 30-day license fits; 5 days before the end its renewal does not.
  await setClock(s, new Date(MAX_INSTANT - 40 * DAY).toISOString());
  const licenseId = await acquireOk(t, s, 'late', 'phone', 'open-a');
  t.equal((await licenses(s, 'late'))[0]?.['expiresAt'], new Date(MAX_INSTANT - 10 * DAY).toISOString());
  await setClock(s, new Date(MAX_INSTANT - 5 * DAY).toISOString());
  const head = await s.store.readHead('late');
  expectOutOfRange(t, await renew(s, 'late', licenseId), 'expiresAt', 'a renewal past the end');
  t.same(await s.store.readHead('late'), head, 'the refused renewal wrote nothing');
  const released = await release(s, 'late', licenseId);
  t.equal(released.status, 200, 'a release (its time is now) is fine');

  // Three downloads of a title in year 9999: the fourth is refused, and its slot frees after the range.
  await setClock(s, '9999-06-01T00:00:00Z');
  for (let i = 0; i < 3; i++) await acquireOk(t, s, 'yearly', 'phone', 'plain-title');
  const refused = await acquire(s, 'yearly', 'phone', 'plain-title');
  t.equal(refused.status, 409, refused.raw);
  t.equal(refused.body['reason'], 'YEARLY_TITLE_LIMIT');
  t.equal((refused.body['details'] as Record<string, unknown>)['nextSlotAt'], null, 'no next slot within the range');
  t.notMatch(refused.raw, /\+0100|10000-/, 'no six-digit year anywhere in the answer');
  const checked = await check(s, 'yearly', { deviceId: 'phone', titleId: 'plain-title' });
  t.equal(checked.status, 200);
  t.equal(checked.body['allowed'], false);
});

t.test('the edges of the range are written and read back after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'extreme-times-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'events.db');
  const first = await startTestServer({ store: new SqliteEventStore(path) });
  let firstOpen = true;
  t.teardown(async () => {
    if (firstOpen) await first.close();
  });
  // At the first instant: the rolling year reaches back before 1970 (only compared, never stored).
  await setClock(first, MIN_ISO);
  const early = await acquireOk(t, first, 'edges', 'phone', 'open-a');
  expectOutOfRange(t, await playback(first, 'edges', early, { events: [{ sessionId: 's', startedAt: '1969-12-31T23:59:59Z', durationMs: 1 }] }), 'body.events.0.startedAt');
  await setClock(first, new Date(MAX_INSTANT - 30 * DAY).toISOString());
  const late = await acquireOk(t, first, 'edges', 'tablet', 'open-a');
  const before = await licenses(first, 'edges');
  firstOpen = false;
  await first.close();

  const second = await startTestServer({ store: new SqliteEventStore(path) });
  t.teardown(() => second.close());
  const after = await licenses(second, 'edges');
  t.same(after.map((l) => l['licenseId']).sort(), [early, late].sort(), 'both licenses read back');
  t.same(
    after.map((l) => [l['acquiredAt'], l['expiresAt']]),
    before.map((l) => [l['acquiredAt'], l['expiresAt']]),
  );
  t.same(after.map((l) => l['expiresAt']).sort(), [new Date(30 * DAY).toISOString(), MAX_ISO].sort(), 'an expiry on the last instant');
  const events = await call(second, { method: 'GET', url: '/v1/debug/members/edges/events' });
  t.equal(events.status, 200);
  t.notOk(events.raw.includes('decodeError'), 'every stored row decodes');
});

t.test('stored times outside the range are undecodable rows, never a 500', async (t) => {
  const s = await server(t);
  const row = (at: number, payload: string) => ({
    aggregateName: 'license',
    aggregateId: 'L1',
    at,
    type: 'LicenseAcquired',
    schemaVersion: 1,
    serializer: 'json',
    payload,
    rulesVersion: 'r',
    requestId: null,
  });
  const good = '{"licenseId":"L1","deviceId":"d","titleId":"t","studioId":null,"expiresAt":100000}';
  await s.store.append('far-row', EMPTY_HEAD, [row(9e15, good)]); // past what toISOString() can even show
  await s.store.append('neg-row', EMPTY_HEAD, [row(-1, good)]);
  await s.store.append('far-expiry', EMPTY_HEAD, [row(1000, '{"licenseId":"L1","deviceId":"d","titleId":"t","studioId":null,"expiresAt":253402300800000}')]);
  for (const member of ['far-row', 'neg-row', 'far-expiry']) {
    const checked = await check(s, member, { deviceId: 'd', titleId: 't' });
    t.equal(checked.status, 200, `${member}: check answered`);
    t.equal(checked.headers['x-license-degraded'], 'undecodable-history', `${member}: marked degraded`);
    const listed = await get(s, `/v1/members/${member}/licenses`);
    t.equal(listed.status, 503, `${member}: the list is refused (${listed.raw})`);
    t.equal(listed.body['code'], 'EVENT_DECODE_FAILED');
    const shown = await get(s, `/v1/debug/members/${member}/events`);
    t.equal(shown.status, 200, `${member}: the debug API shows the row`);
    const [event] = shown.body['events'] as Record<string, unknown>[];
    t.match(event?.['decodeError'], /outside|invalid/, `${member}: with its decode error`);
    t.type(event?.['at'], 'string', `${member}: its time shown as a string`);
  }
});

t.test('the codec never writes a time it could not read back', async (t) => {
  const acquired = { type: 'LicenseAcquired', at: MAX_INSTANT, licenseId: 'L1', deviceId: 'd', titleId: 't', studioId: null, expiresAt: MAX_INSTANT + 1 } as const;
  t.throws(() => encodeEvent(acquired, { rulesVersion: 'r' }), { code: 'TIME_OUT_OF_RANGE', details: { field: 'expiresAt' } });
  const played: DomainEvent = { type: 'PlaybackRecorded', at: 0, licenseId: 'L1', sessions: [{ sessionId: 's', startedAt: -1, durationMs: 1 }] };
  t.throws(() => encodeEvent(played, { rulesVersion: 'r' }), { code: 'TIME_OUT_OF_RANGE', details: { field: 'sessions.0.startedAt' } });
  const fine = encodeEvent({ ...acquired, expiresAt: MAX_INSTANT }, { rulesVersion: 'r' });
  t.equal(decodeEvent({ ...fine, memberId: 'm', generation: 0, position: 1 }).at, MAX_INSTANT, 'the last instant round-trips');
});

t.test('worker threads follow the manual clock backwards as well as forwards', async (t) => {
  const s = await startActorServer(t, 'sqlite', { actors: { workers: 1 } });
  const setTo = async (at: number) => t.equal((await setClock(s, new Date(at).toISOString())).status, 200);
  const expiryOf = (res: { status: number; body: Record<string, unknown> }) => {
    t.equal(res.status, 201, JSON.stringify(res.body));
    return res.body['expiresAt'];
  };
  await setTo(T0 + 100 * DAY);
  t.equal(expiryOf(await actorAcquire(s, 'ahead', { deviceId: 'p', titleId: 'open-a' })), new Date(T0 + 130 * DAY).toISOString(), 'forwards');
  await setTo(T0);
  t.equal(
    expiryOf(await actorAcquire(s, 'behind', { deviceId: 'p', titleId: 'open-a' })),
    new Date(T0 + 30 * DAY).toISOString(),
    'backwards: the worker decides at the earlier time',
  );
  // A member whose newest event is later than the clock is never stamped before it.
  t.equal(expiryOf(await actorAcquire(s, 'ahead', { deviceId: 'p', titleId: 'open-b' })), new Date(T0 + 130 * DAY).toISOString(), 'a member keeps its order in time');
  await setTo(T0 + DAY);
  t.equal(expiryOf(await actorAcquire(s, 'behind', { deviceId: 'p', titleId: 'open-b' })), new Date(T0 + 31 * DAY).toISOString(), 'and forwards again');
});

t.test('CLI time flags outside the range are usage errors naming the flag', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'extreme-times-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify({ service: { store: 'sqlite', sqlite: { path: 'events.db' } }, rules: testRules() }));
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/license-accounting.mjs', '--config', configPath, ...args],
        { cwd: REPO_ROOT, timeout: 60_000, env: { ...process.env, LICENSE_CONFIG: '' } },
        (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
  const explain = await cli('explain', 'm1', '--title', 't', '--device', 'd', '--at', '1969-12-31T23:59:59Z');
  t.equal(explain.code, 2, 'exit code 2');
  t.match(explain.stderr, /--at must be between 1970-01-01T00:00:00\.000Z and 9999-12-31T23:59:59\.999Z/);
  const dump = await cli('dump', 'm1', '--to', '9999-12-31T23:59:59-01:00');
  t.equal(dump.code, 2);
  t.match(dump.stderr, /--to must be between/);
});

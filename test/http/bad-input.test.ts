/**
 * Bad input at the edge: malformed JSON, wrong types (never coerced), missing and unknown
 * fields, bad ids in the body, the path and the query string, bad playback batches, oversize
 * and non-JSON bodies. Every answer is a 4xx with a catalog code whose status is the HTTP
 * status, naming the field; never a 500, and nothing is written.
 */
import t from 'tap';
import { DAY, T0 } from '../support/fixtures.ts';
import {
  acquire,
  acquireOk,
  call,
  check,
  deactivate,
  expectError,
  expectInvalid,
  get,
  head,
  iso,
  licenses,
  playback,
  post,
  release,
  renew,
  server,
  type Answer,
} from './http-support.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };
const SESSION = { sessionId: 's1', startedAt: '2026-01-01T00:00:00Z', durationMs: 1000 };
const ID_128 = 'a'.repeat(120) + '.b_c:d-E';
const ID_129 = ID_128 + 'z';

t.test('malformed JSON: 400 INVALID_JSON on every POST route', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const urls = [
    '/v1/members/m1/licenses',
    `/v1/members/m1/licenses/${licenseId}/renew`,
    `/v1/members/m1/licenses/${licenseId}/release`,
    `/v1/members/m1/licenses/${licenseId}/playback`,
    '/v1/members/m1/devices/phone/deactivate',
    '/v1/admin/clock',
  ];
  const bodies = ['{"deviceId": ', '{deviceId: "phone"}', "{'a': 1}", '{"a": 1,}', 'not json', '{"a": 1}}'];
  for (const url of urls) {
    for (const payload of bodies) {
      expectError(t, await post(s, url, payload, JSON_HEADERS), 400, 'INVALID_JSON', `${url} <- ${payload}`);
    }
  }
  // Prototype poisoning is refused as bad JSON, not parsed.
  expectError(t, await post(s, '/v1/members/m1/licenses', '{"__proto__": {"x": 1}, "deviceId": "phone", "titleId": "film-2"}', JSON_HEADERS), 400, 'INVALID_JSON', '__proto__');
  expectError(
    t,
    await post(s, '/v1/members/m1/licenses', '{"constructor": {"prototype": {"x": 1}}, "deviceId": "phone", "titleId": "film-2"}', JSON_HEADERS),
    400,
    'INVALID_JSON',
    'constructor.prototype',
  );
  // A body shorter than its Content-Length.
  const truncated = await call(s, {
    method: 'POST',
    url: '/v1/members/m1/licenses',
    payload: '{"deviceId":"phone"',
    headers: { 'content-type': 'application/json', 'content-length': '100' },
  });
  expectError(t, truncated, 400, 'INVALID_JSON', 'content-length mismatch');
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.equal(s.clock.now(), T0, 'the clock did not move');
});

t.test('wrong types are refused, never coerced', async (t) => {
  const s = await server(t);
  const res = await acquire(s, 'm1', 5 as unknown as string, 'film-1');
  expectInvalid(t, res, 'body.deviceId', 'deviceId: 5');
  t.match(res.body['message'], /string/, 'the message says what is expected');
  t.same(await head(s, 'm1'), { generation: 0, position: 0 }, 'no license for a device "5"');
  t.same(await licenses(s, 'm1'), []);

  const cases: [Record<string, unknown>, string][] = [
    [{ deviceId: 'phone', titleId: 7 }, 'body.titleId'],
    [{ deviceId: 'phone', titleId: true }, 'body.titleId'],
    [{ deviceId: ['phone'], titleId: 'film-1' }, 'body.deviceId'],
    [{ deviceId: { id: 'phone' }, titleId: 'film-1' }, 'body.deviceId'],
    [{ deviceId: null, titleId: 'film-1' }, 'body.deviceId'],
    [{ deviceId: 'phone', titleId: 'film-1', plan: 1 }, 'body.plan'],
    [{ deviceId: 'phone', titleId: 'film-1', plan: '' }, 'body.plan'],
    [{ deviceId: 'phone', titleId: 'film-1', requestId: 12345 }, 'body.requestId'],
  ];
  for (const [payload, field] of cases) {
    expectInvalid(t, await post(s, '/v1/members/m1/licenses', payload), field, `${JSON.stringify(payload)}`);
  }

  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  expectInvalid(t, await renew(s, 'm1', licenseId, { requestId: 5 }), 'body.requestId', 'renew requestId: 5');
  expectInvalid(t, await release(s, 'm1', licenseId, { deviceId: 5 }), 'body.deviceId', 'release deviceId: 5');
  expectInvalid(t, await deactivate(s, 'm1', 'phone', { requestId: false }), 'body.requestId', 'deactivate requestId: false');
  expectInvalid(t, await playback(s, 'm1', licenseId, { events: { 0: SESSION } }), 'body.events', 'events is not an array');
  expectInvalid(t, await playback(s, 'm1', licenseId, { events: [{ ...SESSION, durationMs: '1000' }] }), 'body.events.0.durationMs', 'durationMs "1000"');
  expectInvalid(t, await playback(s, 'm1', licenseId, { events: [{ ...SESSION, sessionId: 1 }] }), 'body.events.0.sessionId', 'sessionId: 1');
  expectInvalid(t, await post(s, '/v1/admin/clock', { advanceMs: '1000' }), 'body.advanceMs', 'advanceMs "1000"');
  expectInvalid(t, await post(s, '/v1/admin/clock', { advanceMs: 1.5 }), 'body.advanceMs', 'advanceMs 1.5');
  expectInvalid(t, await post(s, '/v1/admin/clock', { now: 1767225600000 }), 'body.now', 'now as a number');
  // A leap second passes the date-time format, but the clock must not become NaN.
  expectInvalid(t, await post(s, '/v1/admin/clock', { now: '2026-06-30T23:59:60Z' }), 'body.now', 'now at a leap second');
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.equal(s.clock.now(), T0, 'the clock did not move');

  // A body that is JSON but not an object.
  for (const payload of ['null', '[]', '"phone"', '5', 'true']) {
    expectInvalid(t, await post(s, '/v1/members/m1/licenses', payload, JSON_HEADERS), 'body', `body ${payload}`);
    expectInvalid(t, await post(s, `/v1/members/m1/licenses/${licenseId}/renew`, payload, JSON_HEADERS), 'body', `renew body ${payload}`);
  }
});

t.test('missing fields', async (t) => {
  const s = await server(t);
  expectInvalid(t, await post(s, '/v1/members/m1/licenses', {}), 'body.deviceId', 'acquire {}');
  expectInvalid(t, await post(s, '/v1/members/m1/licenses', { titleId: 'film-1' }), 'body.deviceId', 'acquire without deviceId');
  expectInvalid(t, await post(s, '/v1/members/m1/licenses', { deviceId: 'phone' }), 'body.titleId', 'acquire without titleId');
  expectInvalid(t, await post(s, '/v1/members/m1/licenses'), 'body.deviceId', 'acquire without a body');
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  expectInvalid(t, await playback(s, 'm1', licenseId, {}), 'body.events', 'playback {}');
  expectInvalid(t, await post(s, `/v1/members/m1/licenses/${licenseId}/playback`), 'body.events', 'playback without a body');
  for (const key of ['sessionId', 'startedAt', 'durationMs'] as const) {
    const event: Record<string, unknown> = { ...SESSION };
    delete event[key];
    expectInvalid(t, await playback(s, 'm1', licenseId, { events: [SESSION, event] }), `body.events.1.${key}`, `event without ${key}`);
  }
});

t.test('unknown body fields are refused, not dropped', async (t) => {
  const s = await server(t);
  expectInvalid(t, await acquire(s, 'm1', 'phone', 'film-1', { memberId: 'm2' }), 'body.memberId', 'acquire memberId');
  expectInvalid(t, await acquire(s, 'm1', 'phone', 'film-1', { extra: 1 }), 'body.extra', 'acquire extra');
  t.same(await head(s, 'm1'), { generation: 0, position: 0 }, 'nothing written');
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  expectInvalid(t, await renew(s, 'm1', licenseId, { days: 90 }), 'body.days', 'renew days');
  expectInvalid(t, await release(s, 'm1', licenseId, { force: true }), 'body.force', 'release force');
  expectInvalid(t, await deactivate(s, 'm1', 'phone', { deviceId: 'phone' }), 'body.deviceId', 'deactivate deviceId in the body');
  expectInvalid(t, await playback(s, 'm1', licenseId, { events: [SESSION], note: 'x' }), 'body.note', 'playback note');
  expectInvalid(t, await playback(s, 'm1', licenseId, { events: [{ ...SESSION, bitrate: 5 }] }), 'body.events.0.bitrate', 'event bitrate');
  expectInvalid(t, await post(s, '/v1/admin/clock', { advanceBy: 5 }), 'body.advanceBy', 'clock advanceBy');
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.match(await licenses(s, 'm1'), [{ licenseId, renewals: 0 }], 'neither renewed nor released');
});

t.test('ids in the body: 1 to 128 characters of [A-Za-z0-9._:-]', async (t) => {
  const s = await server(t);
  const bad = ['', ' ', 'pho ne', 'pho/ne', 'phone?', 'phoné', 'ph\u0000one', 'phone\n', '<script>', ID_129];
  for (const value of bad) {
    const label = JSON.stringify(value.length > 20 ? `${value.length} chars` : value);
    expectInvalid(t, await acquire(s, 'm1', value, 'film-1'), 'body.deviceId', `deviceId ${label}`);
    expectInvalid(t, await acquire(s, 'm1', 'phone', value), 'body.titleId', `titleId ${label}`);
    expectInvalid(t, await acquire(s, 'm1', 'phone', 'film-1', { requestId: value }), 'body.requestId', `requestId ${label}`);
  }
  t.same(await head(s, 'm1'), { generation: 0, position: 0 }, 'nothing written');
});

t.test('a valid 128-character memberId, deviceId and titleId work end to end', async (t) => {
  const s = await server(t);
  t.equal(ID_128.length, 128);
  const member = `m${ID_128.slice(1)}`;
  const device = `d${ID_128.slice(1)}`;
  const title = `t${ID_128.slice(1)}`;
  const allowed = await check(s, member, { deviceId: device, titleId: title });
  t.same(allowed.body, { allowed: true, rulesVersion: 'test-1' }, 'check');
  const res = await acquire(s, member, device, title, { requestId: `r${ID_128.slice(1)}` });
  t.equal(res.status, 201, `acquire: ${res.raw}`);
  t.match(res.body, { memberId: member, deviceId: device, titleId: title });
  const licenseId = String(res.body['licenseId']);
  t.match(await licenses(s, member), [{ licenseId, deviceId: device, titleId: title }], 'listed');
  t.equal((await renew(s, member, licenseId, { deviceId: device })).status, 200, 'renew');
  t.equal((await playback(s, member, licenseId, { deviceId: device, events: [SESSION] })).status, 202, 'playback');
  const deactivated = await deactivate(s, member, device);
  t.equal(deactivated.status, 200, 'deactivate');
  t.same(deactivated.body, { deviceId: device, releasedLicenseIds: [licenseId] });
  // A 128-character license id is a valid id: it is simply not found.
  expectError(t, await renew(s, member, ID_128), 404, 'LICENSE_NOT_FOUND', '128-character license id');
});

t.test('path parameters with bad characters or lengths: 400 naming the parameter', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const badSegments = ['a%2Fb', 'a%20b', 'a%3Fb', '%C3%A9', 'a%00b', ID_129];
  for (const segment of badSegments) {
    const label = segment.length > 20 ? `${segment.length} chars` : segment;
    expectInvalid(t, await acquire(s, segment, 'phone', 'film-1'), 'params.memberId', `acquire member ${label}`);
    expectInvalid(t, await get(s, `/v1/members/${segment}/licenses`), 'params.memberId', `licenses member ${label}`);
    expectInvalid(t, await check(s, segment, { deviceId: 'phone', titleId: 'film-1' }), 'params.memberId', `check member ${label}`);
    expectInvalid(t, await renew(s, segment, licenseId), 'params.memberId', `renew member ${label}`);
    expectInvalid(t, await renew(s, 'm1', segment), 'params.licenseId', `renew license ${label}`);
    expectInvalid(t, await release(s, 'm1', segment), 'params.licenseId', `release license ${label}`);
    expectInvalid(t, await playback(s, 'm1', segment, { events: [SESSION] }), 'params.licenseId', `playback license ${label}`);
    expectInvalid(t, await deactivate(s, 'm1', segment), 'params.deviceId', `deactivate device ${label}`);
  }
  expectInvalid(t, await acquire(s, '', 'phone', 'film-1'), 'params.memberId', 'empty memberId');
  expectInvalid(t, await renew(s, 'm1', ''), 'params.licenseId', 'empty licenseId');
  // Past what the router holds, and a broken percent-encoding: still a 400 from the catalog.
  expectError(t, await acquire(s, 'a'.repeat(3000), 'phone', 'film-1'), 400, 'VALIDATION_FAILED', '3000-character memberId');
  expectError(t, await acquire(s, 'a%E0%A4%A', 'phone', 'film-1'), 400, 'VALIDATION_FAILED', 'malformed percent-encoding');
  expectError(t, await get(s, '/v1/members/%zz/licenses'), 400, 'VALIDATION_FAILED', 'invalid percent-escape');
  t.same(await head(s, 'm1'), before, 'nothing written');
});

t.test('the query string of check', async (t) => {
  const s = await server(t);
  expectInvalid(t, await get(s, '/v1/members/m1/check?titleId=film-1'), 'querystring.deviceId', 'missing deviceId');
  expectInvalid(t, await get(s, '/v1/members/m1/check?deviceId=phone'), 'querystring.titleId', 'missing titleId');
  expectInvalid(t, await get(s, '/v1/members/m1/check'), 'querystring.deviceId', 'no query string');
  expectInvalid(t, await get(s, '/v1/members/m1/check?deviceId=&titleId=film-1'), 'querystring.deviceId', 'empty deviceId');
  expectInvalid(t, await get(s, '/v1/members/m1/check?deviceId=pho%20ne&titleId=film-1'), 'querystring.deviceId', 'deviceId with a space');
  expectInvalid(t, await get(s, `/v1/members/m1/check?deviceId=phone&titleId=${ID_129}`), 'querystring.titleId', '129-character titleId');
  expectInvalid(t, await get(s, '/v1/members/m1/check?deviceId=a&deviceId=b&titleId=film-1'), 'querystring.deviceId', 'deviceId twice');
  expectInvalid(t, await get(s, '/v1/members/m1/check?deviceId=phone&titleId=film-1&plan='), 'querystring.plan', 'empty plan');
  expectInvalid(t, await get(s, '/v1/members/m1/check?deviceId=phone&titleId=film-1&member=m2'), 'querystring.member', 'unknown parameter');
  t.same(await head(s, 'm1'), { generation: 0, position: 0 }, 'nothing written');
});

t.test('playback batches', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const send = (events: unknown[]) => playback(s, 'm1', licenseId, { events });
  const at = (index: number, event: Record<string, unknown>): unknown[] => [SESSION, SESSION, SESSION].map((e, i) => (i === index ? { ...e, ...event } : e));

  for (const startedAt of ['yesterday', '2026-01-01', '2026-01-01T00:00:00', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T25:00:00Z', '1767225600000', '']) {
    expectInvalid(t, await send(at(2, { startedAt })), 'body.events.2.startedAt', `startedAt ${JSON.stringify(startedAt)}`);
  }
  // A leap second passes the date-time format but is not a readable instant: refused, not stored as NaN.
  expectInvalid(t, await send(at(1, { startedAt: '2026-06-30T23:59:60Z' })), 'body.events.1.startedAt', 'leap second');
  expectInvalid(t, await send(at(0, { startedAt: 1767225600000 })), 'body.events.0.startedAt', 'startedAt as a number');

  for (const durationMs of [-1, 1.5, -0.5, 31_536_000_001, Number.MAX_SAFE_INTEGER * 2]) {
    expectInvalid(t, await send(at(1, { durationMs })), 'body.events.1.durationMs', `durationMs ${durationMs}`);
  }
  expectInvalid(t, await send([]), 'body.events', 'an empty batch');
  expectInvalid(t, await send(Array.from({ length: 1001 }, (_, i) => ({ ...SESSION, sessionId: `s${i}` }))), 'body.events', '1,001 events');
  expectInvalid(t, await send([SESSION, 'not an event']), 'body.events.1', 'an event that is not an object');
  expectInvalid(t, await send(at(0, { sessionId: '' })), 'body.events.0.sessionId', 'empty sessionId');
  t.same(await head(s, 'm1'), before, 'nothing written');

  // The limits themselves are fine: 1,000 events, duration 0, a fractional-second time with an offset.
  const full = await send(Array.from({ length: 1000 }, (_, i) => ({ sessionId: `s${i}`, startedAt: '2025-12-31T23:00:00.123+02:00', durationMs: i === 0 ? 0 : 31_536_000_000 })));
  t.equal(full.status, 202, `1,000 events are accepted: ${full.raw.slice(0, 200)}`);
  t.same(full.body, { licenseId, recorded: 1000 });
});

t.test('body size: 413 BODY_TOO_LARGE', async (t) => {
  const s = await server(t);
  const huge = { deviceId: 'phone', titleId: 'film-1', requestId: 'x'.repeat(2 * 1024 * 1024) };
  expectError(t, await acquire(s, 'm1', 'phone', 'film-1', { requestId: huge.requestId }), 413, 'BODY_TOO_LARGE', 'over the default 1 MiB');

  const small = await server(t, { service: { bodyLimitBytes: 1024 } });
  const licenseId = await acquireOk(t, small, 'm1', 'phone', 'film-1');
  const before = await head(small, 'm1');
  const batch = { events: Array.from({ length: 40 }, (_, i) => ({ ...SESSION, sessionId: `session-${i}` })) };
  t.ok(JSON.stringify(batch).length > 1024, 'the batch is over the limit');
  expectError(t, await playback(small, 'm1', licenseId, batch), 413, 'BODY_TOO_LARGE', 'playback over a 1 KiB limit');
  expectError(t, await post(small, '/v1/members/m1/licenses', JSON.stringify(huge), JSON_HEADERS), 413, 'BODY_TOO_LARGE', 'acquire over a 1 KiB limit');
  t.same(await head(small, 'm1'), before, 'nothing written');
  t.equal((await playback(small, 'm1', licenseId, { events: batch.events.slice(0, 5) })).status, 202, 'a batch under the limit is fine');
});

t.test('bodies that are not JSON: 415 UNSUPPORTED_MEDIA_TYPE', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const cases: [string, string, string][] = [
    ['/v1/members/m1/licenses', 'text/plain', '{"deviceId":"phone","titleId":"film-2"}'],
    ['/v1/members/m1/licenses', 'text/plain; charset=utf-8', 'deviceId=phone'],
    ['/v1/members/m1/licenses', 'application/x-www-form-urlencoded', 'deviceId=phone&titleId=film-2'],
    ['/v1/members/m1/licenses', 'application/xml', '<license/>'],
    [`/v1/members/m1/licenses/${licenseId}/renew`, 'text/plain', '{}'],
    [`/v1/members/m1/licenses/${licenseId}/release`, 'text/plain', 'release'],
    ['/v1/members/m1/devices/phone/deactivate', 'text/plain', 'please'],
    [`/v1/members/m1/licenses/${licenseId}/playback`, 'application/octet-stream', 'xxxx'],
  ];
  for (const [url, type, payload] of cases) {
    expectError(t, await post(s, url, payload, { 'content-type': type }), 415, 'UNSUPPORTED_MEDIA_TYPE', `${type} -> ${url}`);
  }
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.equal((await licenses(s, 'm1')).length, 1, 'the text/plain acquire made no license');
});

t.test('empty and absent bodies', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  for (const url of [
    '/v1/members/m1/licenses',
    `/v1/members/m1/licenses/${licenseId}/renew`,
    `/v1/members/m1/licenses/${licenseId}/release`,
    `/v1/members/m1/licenses/${licenseId}/playback`,
    '/v1/members/m1/devices/phone/deactivate',
  ]) {
    expectError(t, await post(s, url, '', JSON_HEADERS), 400, 'INVALID_JSON', `empty JSON body -> ${url}`);
  }
  t.same(await head(s, 'm1'), before, 'nothing written');

  // No body at all: renew, release and deactivate take an optional body.
  const renewed = await post(s, `/v1/members/m1/licenses/${licenseId}/renew`);
  t.equal(renewed.status, 200, `renew without a body: ${renewed.raw}`);
  t.same(renewed.body, { licenseId, expiresAt: iso(T0 + 60 * DAY), renewals: 1 });
  const released = await post(s, `/v1/members/m1/licenses/${licenseId}/release`);
  t.equal(released.status, 200, `release without a body: ${released.raw}`);
  t.same(released.body, { licenseId, releasedAt: iso(T0) });
  await acquireOk(t, s, 'm1', 'tablet', 'film-2');
  const deactivated = await post(s, '/v1/members/m1/devices/tablet/deactivate');
  t.equal(deactivated.status, 200, `deactivate without a body: ${deactivated.raw}`);
  t.equal(deactivated.body['deviceId'], 'tablet');
  // And `{}` is the same as no body.
  const other = await acquireOk(t, s, 'm1', 'phone', 'film-3');
  t.equal((await release(s, 'm1', other, {})).status, 200);
});

t.test('never a 500: a sweep of bad requests all answer from the catalog', async (t) => {
  const s = await server(t);
  const licenseId = await acquireOk(t, s, 'm1', 'phone', 'film-1');
  const before = await head(s, 'm1');
  const requests: [string, () => Promise<Answer>][] = [
    ['deep JSON', () => post(s, '/v1/members/m1/licenses', '['.repeat(5000) + ']'.repeat(5000), JSON_HEADERS)],
    ['huge number', () => post(s, '/v1/admin/clock', '{"advanceMs": 1e400}', JSON_HEADERS)],
    ['unicode escape id', () => post(s, '/v1/members/m1/licenses', '{"deviceId": "\\ud800", "titleId": "film-1"}', JSON_HEADERS)],
    ['BOM', () => post(s, '/v1/members/m1/licenses', '\ufeff{"deviceId": "phone"}', JSON_HEADERS)],
    ['bad content-type', () => post(s, '/v1/members/m1/licenses', '{}', { 'content-type': '/;;' })],
    ['duplicate keys', () => post(s, `/v1/members/m1/licenses/${licenseId}/renew`, '{"requestId": "a", "requestId": 5}', JSON_HEADERS)],
    ['query on a POST', () => post(s, '/v1/members/m1/licenses?deviceId=phone&titleId=film-1', {})],
    ['encoded slash in license', () => post(s, '/v1/members/m1/licenses/..%2F..%2Fadmin/renew')],
  ];
  for (const [label, send] of requests) {
    const res = await send();
    t.ok(res.status >= 400 && res.status < 500, `${label}: a 4xx (${res.status} ${res.raw.slice(0, 200)})`);
    const code = res.body['code'];
    if (typeof code === 'string') expectError(t, res, res.status, code, label);
    else t.fail(`${label}: no code in ${res.raw.slice(0, 200)}`);
  }
  t.same(await head(s, 'm1'), before, 'nothing written');
  t.equal(s.clock.now(), T0, 'the clock did not move');
});

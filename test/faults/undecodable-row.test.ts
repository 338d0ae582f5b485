/**
 * A stored row this code cannot decode (an unknown type, or a schema version newer than the
 * code knows) fails only that member's load, with an error naming the row: its checks answer the
 * documented fallback (allowed, marked `x-license-degraded`), its commands are refused with 503
 * EVENT_DECODE_FAILED (never a 500), nothing is written, the row is logged, and every other
 * member is served.
 */
import t from 'tap';
import { EMPTY_HEAD } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { startTestServer } from '../support/fixtures.ts';
import type { Json } from '../http/http-support.ts';

t.test('an undecodable row fails only its member', async (t) => {
  const store = new SqliteEventStore(':memory:');
  await store.append('broken-type', EMPTY_HEAD, [
    { aggregateName: 'license', aggregateId: 'L1', at: 1000, type: 'LicenseTeleported', schemaVersion: 1, serializer: 'json', payload: '{}', rulesVersion: 'r', requestId: null },
  ]);
  await store.append('broken-version', EMPTY_HEAD, [
    {
      aggregateName: 'license',
      aggregateId: 'L1',
      at: 1000,
      type: 'LicenseReleased',
      schemaVersion: 99,
      serializer: 'json',
      payload: '{"licenseId":"L1"}',
      rulesVersion: 'r',
      requestId: null,
    },
  ]);
  const server = await startTestServer({ store });
  t.teardown(() => server.close());
  const logged: string[] = [];
  const capture = ((object: unknown) => void logged.push(JSON.stringify(object, (_k, v: unknown) => (v instanceof Error ? v.message : v)))) as typeof server.app.log.error;
  server.app.log.error = capture;
  server.app.log.warn = capture;

  for (const [memberId, why] of [
    ['broken-type', /unknown event type "LicenseTeleported"/],
    ['broken-version', /written by a newer schema \(this code knows up to version 2\)/],
  ] as const) {
    const res = await server.app.inject({ method: 'GET', url: `/v1/members/${memberId}/check?deviceId=d&titleId=x` });
    t.equal(res.statusCode, 200, `${memberId}: the check answers the fallback`);
    t.same(res.json(), { allowed: true, rulesVersion: 'test-1' });
    t.equal(res.headers['x-license-degraded'], 'undecodable-history');
    const command = await server.app.inject({ method: 'POST', url: `/v1/members/${memberId}/licenses`, payload: { deviceId: 'd', titleId: 'x' } });
    t.equal(command.statusCode, 503, `${memberId}: commands are refused, not a 500`);
    t.equal(command.json<Json>().code, 'EVENT_DECODE_FAILED', 'nothing written');
    t.equal(command.headers['retry-after'], '300', 'no quick retry');
    t.match(command.json<Json>().message, new RegExp(`member=${memberId} generation=0 aggregate=license/L1 position=1`), 'the message names the row');
    t.match(command.json<Json>().message, why);
  }
  t.ok(
    logged.some((line) => line.includes('LicenseTeleported')),
    'the row is logged',
  );
  t.same(await store.readHead('broken-type'), { generation: 0, position: 1 });

  const healthy = await server.app.inject({ method: 'POST', url: '/v1/members/healthy/licenses', payload: { deviceId: 'd', titleId: 'x' } });
  t.equal(healthy.statusCode, 201, 'other members are served');
  t.equal((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

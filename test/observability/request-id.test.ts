/** The request id follows a request into the worker and onto the stored events. */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memberEvents } from '../../src/service/history.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { startTestServer } from '../support/fixtures.ts';

for (const workers of [0, 2]) {
  t.test(`${workers === 0 ? 'in-process' : 'worker threads'}: X-Request-Id reaches the stored events`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'request-id-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'events.db');
    // Workers open the file themselves; the test reads it through its own connection.
    const server = await startTestServer({
      store: new SqliteEventStore(path),
      service: { sqlite: { path }, actors: { workers, maxQueuedPerMember: 64, maxPendingPerWorker: 10000, groupCommit: true } },
    });
    t.teardown(() => server.close());

    const given = await server.app.inject({
      method: 'POST',
      url: '/v1/members/traced/licenses',
      headers: { 'x-request-id': 'edge-req-42' },
      payload: { deviceId: 'd1', titleId: 'open-a' },
    });
    t.equal(given.statusCode, 201);
    t.equal(given.headers['x-request-id'], 'edge-req-42', 'the caller’s id is echoed');

    const minted = await server.app.inject({
      method: 'POST',
      url: '/v1/members/traced/licenses',
      headers: { 'x-request-id': 'not a valid id; DROP TABLE' },
      payload: { deviceId: 'd1', titleId: 'open-a' },
    });
    t.equal(minted.statusCode, 201);
    const mintedId = String(minted.headers['x-request-id']);
    t.match(mintedId, /^[0-9a-f-]{36}$/, 'an unusable id is replaced by a fresh UUID');

    const rows = [];
    for await (const row of memberEvents(server.store, 'traced')) rows.push(row);
    t.equal(rows.length, 5, 'two acquires: 3 events, then 2');
    t.same(
      rows.slice(0, 3).map((r) => r.correlationId),
      ['edge-req-42', 'edge-req-42', 'edge-req-42'],
    );
    t.same(
      rows.slice(3).map((r) => r.correlationId),
      [mintedId, mintedId],
    );
  });
}

/**
 * Cassandra lost while the service runs, on a real node of its own (other ports, other run
 * folder) so the shared test node is untouched: commands answer 503 STORE_UNAVAILABLE within
 * the request timeout, checks of members in memory keep being answered, the service recovers
 * without a restart once Cassandra is back, and no acknowledged event is lost, even though the
 * node is killed with SIGKILL.
 */
import t from 'tap';
import { join } from 'node:path';
import { CASSANDRA_DIR, startCassandra, stopCassandra } from '../../cluster/cassandra/node.ts';
import { decodeEvent } from '../../src/store/codec/event-codec.ts';
import { CassandraEventStore } from '../../src/store/cassandra/cassandra-event-store.ts';
import { CassandraMembershipStore } from '../../src/cluster/membership-store.ts';
import { startTestServer } from '../support/fixtures.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import type { Json } from '../http/http-support.ts';

const runDir = join(CASSANDRA_DIR, '.run-outage-test');
const PORT = 19142;
const STORAGE_PORT = 17100;
const REQUEST_TIMEOUT_MS = 2000;
const settings = cassandraTestSettings({ contactPoints: [`127.0.0.1:${PORT}`], requestTimeoutMs: REQUEST_TIMEOUT_MS, keyspace: 'license_outage_test_v2' });

// The driver clients of this file live through a killed and restarted node; on a loaded
// machine one of them has been seen to keep reconnection timers alive after shutdown, so the
// finished file never exited (and hit tap's timeout). Once every test and teardown is done,
// leave after a grace period with the exit code tap already set.
t.teardown(() => {
  setTimeout(() => process.exit(), 5000).unref();
});

t.test('outage and recovery', { timeout: 300_000 }, async (t) => {
  await stopCassandra({ runDir }); // a node left over by an interrupted earlier run
  const node = await startCassandra({ runDir, port: PORT, storagePort: STORAGE_PORT, heapMb: 768, timeoutMs: 180_000, fresh: true });
  const closers: (() => Promise<unknown>)[] = [];
  // Close the clients while the node still answers, then stop the node.
  t.teardown(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await stopCassandra({ runDir });
  });

  const store = await CassandraEventStore.connect(settings);
  const server = await startTestServer({ store });
  closers.push(() => server.close());
  // The cluster membership lives in the same Cassandra; its admin routes must answer 503 too.
  const membership = await CassandraMembershipStore.connect(settings);
  closers.push(() => membership.close());
  const inject = server.app.inject.bind(server.app);

  const acknowledged: { memberId: string; licenseId: string }[] = [];
  for (const memberId of ['outage-a', 'outage-b']) {
    for (const titleId of ['t1', 't2']) {
      const res = await inject({ method: 'POST', url: `/v1/members/${memberId}/licenses`, payload: { deviceId: 'phone', titleId } });
      t.equal(res.statusCode, 201);
      acknowledged.push({ memberId, licenseId: res.json<{ licenseId: string }>().licenseId });
    }
  }

  // Kill, not stop: an acknowledged event must already be in the fsynced commit log.
  process.kill(node.pid, 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 500));

  const started = Date.now();
  const refused = await inject({ method: 'POST', url: '/v1/members/outage-a/licenses', payload: { deviceId: 'phone', titleId: 't3' } });
  const elapsed = Date.now() - started;
  t.equal(refused.statusCode, 503);
  t.equal(refused.json<Json>().code, 'STORE_UNAVAILABLE');
  t.equal(refused.headers['retry-after'], '1');
  t.ok(elapsed < REQUEST_TIMEOUT_MS + 3000, `answered within the request timeout (${elapsed} ms)`);

  // outage-b, not outage-a: when the node dies with outage-a's write on the wire, the outcome
  // of that write is unknown and the service rightly forgets outage-a's memory (it may be behind
  // the store), so whether outage-a is still in memory depends on timing. outage-b had nothing
  // in flight and must be answered from memory.
  const check = await inject({ method: 'GET', url: '/v1/members/outage-b/check?deviceId=phone&titleId=t3' });
  t.equal(check.statusCode, 200, 'a member in memory is still checked');
  t.equal(check.json<Json>().allowed, true);
  const list = await inject({ method: 'GET', url: '/v1/members/outage-b/licenses' });
  t.equal(list.json<{ licenses: unknown[] }>().licenses.length, 2, 'and its licenses listed');

  const cold = await inject({ method: 'GET', url: '/v1/members/outage-cold/check?deviceId=phone&titleId=t1' });
  t.equal(cold.statusCode, 503, 'a member not in memory cannot be loaded');
  t.equal(cold.json<Json>().code, 'STORE_UNAVAILABLE');

  const viewRead = await membership.latest('outage').then(
    () => null,
    (error: unknown) => error as { code?: unknown; message?: unknown },
  );
  t.equal(viewRead?.code, 'STORE_UNAVAILABLE', 'a membership read is STORE_UNAVAILABLE (503), not a raw driver error (500)');

  await startCassandra({ runDir, port: PORT, storagePort: STORAGE_PORT, heapMb: 768, timeoutMs: 180_000, keepData: true });
  let recovered: { statusCode: number; json(): { licenseId: string } } | undefined;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const res = await inject({ method: 'POST', url: '/v1/members/outage-a/licenses', payload: { deviceId: 'phone', titleId: 't3' } });
    if (res.statusCode === 201) {
      recovered = res;
      break;
    }
    t.equal(res.statusCode, 503, 'only 503 while the driver reconnects');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  t.ok(recovered, 'commands succeed again without a restart');
  if (recovered) acknowledged.push({ memberId: 'outage-a', licenseId: recovered.json().licenseId });

  // Every acknowledged license is in the store, read by a fresh client.
  const reader = await CassandraEventStore.connect(settings);
  closers.push(() => reader.close());
  for (const memberId of ['outage-a', 'outage-b']) {
    const head = await reader.readHead(memberId);
    const stored = new Set<string>();
    for (let generation = 0; generation <= head.generation; generation++) {
      for await (const row of reader.readGeneration(memberId, generation)) {
        const event = decodeEvent(row);
        if (event.type === 'LicenseAcquired') stored.add(event.licenseId);
      }
    }
    for (const ack of acknowledged.filter((a) => a.memberId === memberId)) t.ok(stored.has(ack.licenseId), `${ack.licenseId} of ${memberId} is stored`);
  }
});

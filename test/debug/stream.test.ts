/**
 * A member with 10,000 events is dumped as NDJSON over a real socket without the history ever
 * sitting whole in memory: while the client stops reading, the server stops reading the store
 * (backpressure), and the heap grows by far less than the history's size while it streams.
 * Buffering the whole history (an array, or a whole JSON body) fails both checks.
 */
import t from 'tap';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeEvent } from '../../src/store/codec/event-codec.ts';
import { EMPTY_HEAD, type EventRecord, type NewEventRecord, type ReadOptions, type StreamHead } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { startTestServer, T0, TEST_ADMIN_TOKEN } from '../support/fixtures.ts';

const EVENTS = 10_000;
const PER_APPEND = 100;
/** A snapshot every 500 events: generations as the service makes them (it snapshots every 200). */
const PER_GENERATION = 500;
/** About 40 live-heap samples over the 40 MB the stream carries (a timer got about 20 on a quiet machine). */
const SAMPLE_EVERY_BYTES = 1_000_000;

class CountingStore extends SqliteEventStore {
  rowsRead = 0;
  override async *readGeneration(memberId: string, generation: number, options?: ReadOptions): AsyncIterable<EventRecord> {
    for await (const row of super.readGeneration(memberId, generation, options)) {
      this.rowsRead += 1;
      yield row;
    }
  }
}

/** A playback batch of 40 sessions: about 3 KB a row, so the history is about 30 MB of NDJSON. */
function playback(i: number): NewEventRecord {
  const sessions = Array.from({ length: 40 }, (_, n) => ({ sessionId: `session-${i}-${n}-abcdefghijklmnop`, startedAt: T0 + i * 1000 + n, durationMs: 60_000 + n }));
  return encodeEvent({ type: 'PlaybackRecorded', at: T0 + i * 1000, licenseId: 'L1', sessions }, { rulesVersion: 'test-1', requestId: `req-${i}` });
}

t.test('a 10,000-event history streams with bounded memory', async (t) => {
  const store = new CountingStore(':memory:');
  const s = await startTestServer({ store });
  t.teardown(() => s.close());
  let head: StreamHead = EMPTY_HEAD;
  for (let i = 0; i < EVENTS; i += PER_APPEND) {
    head = await store.append(
      'heavy',
      head,
      Array.from({ length: PER_APPEND }, (_, n) => playback(i + n)),
    );
    if ((i + PER_APPEND) % PER_GENERATION === 0 && i + PER_APPEND < EVENTS) {
      head = await store.writeSnapshot('heavy', head, { takenAt: T0, schemaVersion: 1, payload: '{}' });
    }
  }
  t.equal(head.position, EVENTS);
  t.equal(head.generation, EVENTS / PER_GENERATION - 1);

  await s.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = s.app.server.address() as AddressInfo;
  store.rowsRead = 0;
  // Live heap (after a full collection), sampled while the history streams: garbage does not
  // count, what the server holds on to does. Sampled at points of the stream (while the client
  // pauses, then every megabyte read), not on a timer: on a busy machine a timer's full
  // collections multiply with the stream's duration and become most of the test's work.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  let samples = 0;
  const sample = (): void => {
    samples += 1;
    gc();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };

  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/v1/debug/members/heavy/events', headers: { accept: 'application/x-ndjson', authorization: `Bearer ${TEST_ADMIN_TOKEN}` } }, resolve)
      .on('error', reject)
      .end();
  });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /application\/x-ndjson/);
  t.equal(res.headers['content-length'], undefined, 'no content-length');
  t.equal(res.headers['transfer-encoding'], 'chunked', 'the body is streamed, not sent as one buffer');

  // Take the first chunk, then stop reading: the server must stop reading the store too.
  res.pause();
  await new Promise<void>((resolve) => res.once('readable', () => resolve()));
  await sleep(500);
  sample();
  const readWhilePaused = store.rowsRead;
  t.ok(readWhilePaused < EVENTS * 0.7, `while the client does not read, the server stopped early: ${readWhilePaused} of ${EVENTS} rows read`);
  await sleep(300);
  sample();
  t.equal(store.rowsRead, readWhilePaused, 'and stays stopped');

  // Read the rest line by line, keeping nothing but a counter and the last position.
  let lines = 0;
  let lastPosition = 0;
  let inOrder = true;
  let rest = '';
  let bytes = 0;
  let nextSample = 0;
  res.setEncoding('utf8');
  for await (const chunk of res as AsyncIterable<string>) {
    bytes += chunk.length;
    if (bytes >= nextSample) {
      sample();
      nextSample = bytes + SAMPLE_EVERY_BYTES;
    }
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      const position = (JSON.parse(line) as { position: number }).position;
      if (position !== lastPosition + 1) inOrder = false;
      lastPosition = position;
      lines += 1;
    }
  }
  t.equal(rest, '', 'the stream ends with a complete line');
  t.equal(lines, EVENTS, 'every event arrives');
  t.ok(inOrder, 'in member-wide order across 20 generations');
  t.equal(store.rowsRead, EVENTS);
  const growth = peak - baseline;
  t.ok(growth < 12e6 && growth < bytes / 3, `live heap grew by ${(growth / 1e6).toFixed(1)} MB while ${(bytes / 1e6).toFixed(1)} MB streamed (${samples} samples)`);
});

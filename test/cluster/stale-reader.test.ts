/**
 * The stale reader: a node is paused (SIGSTOP) past half the failure timeout with a member in
 * memory, the member moves and is written through its new owner, then the old node wakes up
 * and is asked for a check of the member (one check already queued in its socket, one sent
 * after). It must answer from the new truth (forwarded, or read again) or 503, never from the
 * memory it had before the pause (docs/cluster.md, "How stale a check can be").
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { request } from 'undici';
import type { LaunchedCluster } from '../../cluster/launcher.ts';
import { call, startTestCluster } from './cluster-support.ts';

/** Half of it is how old a view may be when a node answers; polling never refreshes it here. */
const FAILURE_TIMEOUT_MS = 4000;

let cluster: LaunchedCluster;
t.before(async () => {
  // Polling so slow it never runs during the test, failure detection with it: the paused node
  // can only learn of the move because its view is too old when it wakes.
  cluster = await startTestCluster(2, { pollIntervalMs: 60_000, failureTimeoutMs: FAILURE_TIMEOUT_MS });
});
t.teardown(async () => {
  await cluster?.stop();
});

interface CheckBody {
  allowed?: boolean;
  reason?: string;
  code?: string;
}

/** A check, raw: its status, body, serving node and Retry-After. */
const check = (url: string) =>
  request(url, { method: 'GET', headersTimeout: 60_000, bodyTimeout: 60_000 }).then(async (response) => ({
    status: response.statusCode,
    servedBy: response.headers['x-served-by'],
    retryAfter: response.headers['retry-after'],
    body: (await response.body.json()) as CheckBody,
  }));

const acquire = (url: string, memberId: string, deviceId: string) => call(`${url}/v1/members/${memberId}/licenses`, 'POST', { deviceId, titleId: 't1', requestId: randomUUID() });

t.test('a paused node woken after its member moved answers checks from the new truth or 503', async (t) => {
  const [first, second] = cluster.nodes;
  if (!first || !second) throw new Error('two nodes expected');
  let memberId = '';
  for (let i = 0; i < 100 && !memberId; i++) {
    const candidate = `stale-read-${cluster.clusterId}-${i}`;
    const answer = await call(`${first.url}/v1/members/${candidate}/check?deviceId=d1&titleId=t1`, 'GET');
    if (answer.servedBy === first.id) memberId = candidate;
  }
  t.ok(memberId, 'found a member owned by node-1');
  const checkPath = `/v1/members/${memberId}/check?deviceId=d1&titleId=t1`;
  // Two of the title's three a year (on the plan's two devices), through node-1: it holds the member in memory.
  t.equal((await acquire(first.url, memberId, 'd1')).status, 201);
  t.equal((await acquire(first.url, memberId, 'd2')).status, 201);
  const before = await call(`${first.url}${checkPath}`, 'GET');
  t.equal(before.servedBy, first.id);
  t.equal((before.body as CheckBody).allowed, true, 'one more t1 is allowed before the move');

  first.child.kill('SIGSTOP');
  try {
    // The kernel queues it in node-1's socket: node-1 reads it the moment it wakes.
    const queued = check(`${first.url}${checkPath}`);
    const drain = await cluster.admin('POST', '/v1/admin/cluster/nodes/node-1/drain', undefined, second);
    t.equal(drain.status, 200, 'the drain is applied without the paused node');
    const moved = await acquire(second.url, memberId, 'd2');
    t.equal(moved.status, 201, 'the new owner writes the third t1');
    t.equal(moved.servedBy, second.id);
    const truth = await call(`${second.url}${checkPath}`, 'GET');
    t.equal((truth.body as CheckBody).allowed, false, 'the truth: no fourth t1 this year');
    // Past half the failure timeout since node-1 last read the view.
    await new Promise((resolve) => setTimeout(resolve, FAILURE_TIMEOUT_MS / 2 + 500));

    first.child.kill('SIGCONT');
    const woken = await queued;
    const after = await check(`${first.url}${checkPath}`);
    for (const [name, answer] of [
      ['the check queued during the pause', woken],
      ['a check sent after the wake', after],
    ] as const) {
      if (answer.status === 503) {
        t.equal(answer.body.code, 'NOT_READY', `${name}: a 503 says the node is catching up`);
        t.ok(answer.retryAfter, `${name}: with Retry-After`);
        continue;
      }
      t.equal(answer.status, 200, `${name}: answered`);
      t.equal(answer.body.allowed, false, `${name}: from the new truth, not the memory from before the pause`);
      t.equal(answer.servedBy, second.id, `${name}: forwarded to the new owner`);
    }
  } finally {
    first.child.kill('SIGCONT');
  }
});

/**
 * Fault campaign against a real three-node Cassandra (replication factor 3, LOCAL_QUORUM reads
 * and writes, LOCAL_SERIAL lightweight transactions: config/cassandra-3-nodes.json), with one
 * service node in this process on the production store (two tiers, worker threads). In order:
 *
 *   1. one Cassandra node SIGKILLed under a load of acquires and checks: the service keeps
 *      answering with nothing but what the README documents, every acknowledged event is stored,
 *      no member is over a limit; the node restarted rejoins and `nodetool repair` brings it level;
 *   2. two nodes down: commands answer 503 STORE_UNAVAILABLE with Retry-After, bounded; checks of
 *      members in memory are answered; the node left alone holds every event of scenario 1 (read
 *      at ONE while the other two are dead); one node back and commands succeed without a restart;
 *   3. the whole cluster killed under load and started again: the service reconnects by itself
 *      and every event acknowledged before is read back at LOCAL_QUORUM.
 *
 * Private nodes on 127.0.0.41-43 and free ports; the shared test node is untouched.
 */
import t from 'tap';
import { join } from 'node:path';
import { stopCassandraCluster } from '../../cluster/cassandra/cluster.ts';
import { CASSANDRA_DIR, freePort, REPO_ROOT } from '../../cluster/cassandra/node.ts';
import { nodetool } from '../../cluster/cassandra/nodetool.ts';
import { readConfigFile } from '../../src/config/load.ts';
import type { ServiceConfig } from '../../src/config/types.ts';
import { TieredEventStore } from '../../src/store/cassandra/tiers/tiered-event-store.ts';
import { tierSettings } from '../../src/store/cassandra/tiers/tier-settings.ts';
import { cassandraTestSettings } from '../support/cassandra.ts';
import { startTestServer, type TestServer } from '../support/fixtures.ts';
import {
  acquireOptions,
  checkOptions,
  errorCounts,
  killNode,
  readBack,
  readerStore,
  restartNode,
  ringStatus,
  RULES,
  runLoad,
  send,
  sleep,
  startRing,
  summaryLine,
  undocumented,
  waitForAgreement,
  type Acknowledged,
  type Answered,
  type Inject,
  type Ring,
} from './three-nodes-support.ts';

const clusterDir = join(CASSANDRA_DIR, '.run-faults-outage');
const ADDRESSES = ['127.0.0.41', '127.0.0.42', '127.0.0.43'];
const HEAP_MB = 512;
const NODE_START_MS = 120_000;
/** The service's Cassandra request timeout (service.cassandra.requestTimeoutMs). */
const REQUEST_TIMEOUT_MS = 2000;
/**
 * The most a refused command may take: its conditional write and the SERIAL read that settles an
 * unknown outcome, each bounded by the request timeout, plus a margin for this busy machine.
 */
const REFUSAL_BOUND_MS = 2 * REQUEST_TIMEOUT_MS + 1500;
/** A request the service has not answered after this long counts as a hang. */
const HANG_MS = 15_000;
const MEMBERS = Array.from({ length: 40 }, (_, i) => `tn-${String(i).padStart(2, '0')}`);

// Driver clients that lived through killed nodes can keep reconnection timers alive (as in
// cassandra-outage.test.ts): once every test and teardown is done, leave with tap's exit code.
t.teardown(() => {
  setTimeout(() => process.exit(), 5000).unref();
});

t.test('three-node Cassandra: one node lost, two lost, all restarted', { timeout: 400_000 }, async (t) => {
  const fileStarted = Date.now();
  await stopCassandraCluster({ clusterDir }); // nodes left over by an interrupted earlier run
  const port = await freePort();
  const storagePort = await freePort();
  const ring: Ring = { nodes: ADDRESSES.map((address, index) => ({ index, address, runDir: join(clusterDir, `node${index + 1}`) })), port, storagePort, heapMb: HEAP_MB };
  const points = ADDRESSES.map((a) => `${a}:${port}`);
  const [node1, node2, node3] = ring.nodes as [Ring['nodes'][0], Ring['nodes'][0], Ring['nodes'][0]];

  const closers: (() => Promise<unknown>)[] = [];
  const pids: number[] = [];
  t.teardown(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    // The data is thrown away (the next run starts fresh): killed, not drained, which saves the
    // ten seconds or so a drain takes; stopCassandraCluster then stops whatever is left.
    await Promise.all(pids.map((pid) => killNode(pid, clusterDir).catch(() => {})));
    await stopCassandraCluster({ clusterDir });
    t.comment(`stopped the Cassandra nodes; the file took ${((Date.now() - fileStarted) / 1000).toFixed(1)} s`);
  });
  const cluster = await startRing(ring, clusterDir, NODE_START_MS);
  pids.push(...cluster.pids);
  t.comment(`three nodes up and agreeing in ${(cluster.ms / 1000).toFixed(1)} s`);

  // The overlay's replication and consistency levels, as a user running RF 3 configures them.
  const overlay = readConfigFile(join(REPO_ROOT, 'config', 'cassandra-3-nodes.json')) as { service: { cassandra: ServiceConfig['cassandra'] } };
  const { replication, readConsistency, writeConsistency, serialConsistency } = overlay.service.cassandra;
  t.match(
    { replication, readConsistency, writeConsistency, serialConsistency },
    {
      replication: { class: 'NetworkTopologyStrategy', replicationFactor: 3 },
      readConsistency: 'LOCAL_QUORUM',
      writeConsistency: 'LOCAL_QUORUM',
      serialConsistency: 'LOCAL_SERIAL',
    },
  );
  const settings = cassandraTestSettings({
    contactPoints: points,
    keyspace: 'license_faults_outage',
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    replication,
    readConsistency,
    writeConsistency,
    serialConsistency,
  });
  const hot = tierSettings(settings, 'hot');

  // The production store (two tiers) on worker threads (actors.workers null: one per core). No
  // snapshots: every event stays in its member's first hot generation, where a read at ONE from a
  // single node can find it (the archiver only moves sealed generations).
  const store = await TieredEventStore.connect(settings);
  const service: Partial<ServiceConfig> = {
    store: 'cassandra',
    cassandra: settings,
    actors: { workers: null, maxQueuedPerMember: 64, maxPendingPerWorker: 10_000, groupCommit: true },
    snapshot: { eventCount: 100_000, replayMs: 1_000_000 },
  };
  let server: TestServer;
  try {
    server = await startTestServer({ rules: RULES, store, service });
  } catch (error) {
    await store.close();
    throw error;
  }
  closers.push(() => server.close());
  const inject: Inject = (options) => server.app.inject(options);

  const summaries: string[] = [];
  const acknowledged: Acknowledged[] = [];
  const quorumReader = await readerStore(hot, points, 'LOCAL_QUORUM');
  closers.push(() => quorumReader.close());

  /** Until `probe` answers 201, every 300 ms; any answer but 503 STORE_UNAVAILABLE (or a 201) is recorded as unexpected. */
  const untilAcquired = async (memberId: string, boundMs: number): Promise<{ ms: number; answers: Answered[]; licenseId: string | null }> => {
    const started = performance.now();
    const answers: Answered[] = [];
    let round = 0;
    while (performance.now() - started < boundMs) {
      const answer = await send(inject, acquireOptions(memberId, 'd1', `t${(round % 8) + 1}`), HANG_MS);
      answers.push({ op: 'acquire', at: performance.now() - started, ms: answer.ms, key: answer.key, retryAfter: answer.retryAfter });
      if (answer.status === 201) return { ms: performance.now() - started, answers, licenseId: String(answer.body['licenseId']) };
      round += 1;
      await sleep(300);
    }
    return { ms: performance.now() - started, answers, licenseId: null };
  };

  await t.test('1. one node SIGKILLed under a load of acquires and checks', { timeout: 150_000 }, async (t) => {
    let killAt = Infinity;
    const answeredAfterKill = (answers: readonly Answered[], key: string): number => answers.filter((a) => a.at > killAt + 1000 && a.key === key).length;
    const load = await runLoad(inject, {
      members: MEMBERS,
      concurrency: 2,
      durationMs: 12_000,
      // On a loaded machine the first seconds after the kill can be all timeouts (the live nodes
      // wait on the dead one until gossip convicts it, about 18 s): the load goes on, bounded,
      // until the service has answered enough after the kill.
      maxDurationMs: 45_000,
      enough: (answers) => answeredAfterKill(answers, '201') >= 5 && answeredAfterKill(answers, '200') >= 5,
      boundMs: HANG_MS,
      during: async (elapsed) => {
        await sleep(4000);
        killAt = elapsed();
        await killNode(pids[2] as number);
      },
    });
    acknowledged.push(...load.acknowledged);
    const errors = errorCounts(load.answers);
    t.comment(`load: ${load.acquires} acquires + ${load.checks} checks over ${load.seconds.toFixed(1)} s; node3 killed at ${(killAt / 1000).toFixed(1)} s; answers: ${errors}`);
    t.same(undocumented(load.answers), [], 'every answer is a success, a rules refusal (409) or a documented 503 with Retry-After');
    const firstAfter = (key: string): number => Math.min(...load.answers.filter((a) => a.at > killAt && a.key === key).map((a) => a.at + a.ms));
    t.ok(
      answeredAfterKill(load.answers, '201') >= 5,
      `acquires are acknowledged after the kill (${answeredAfterKill(load.answers, '201')}, the first ${((firstAfter('201') - killAt) / 1000).toFixed(1)} s after it)`,
    );
    t.ok(
      answeredAfterKill(load.answers, '200') >= 5,
      `checks are answered after the kill (${answeredAfterKill(load.answers, '200')}, the first ${((firstAfter('200') - killAt) / 1000).toFixed(1)} s after it)`,
    );

    // node3 starts again from its own run folder, its data kept, while the two others, alone,
    // answer LOCAL_QUORUM: every acknowledged event is there already.
    const restarting = restartNode(ring, node3, NODE_START_MS);
    const degraded = await readBack(quorumReader, load.acknowledged, MEMBERS);
    t.same(degraded.missing, [], 'every acknowledged acquire is stored (LOCAL_QUORUM, node3 down)');
    t.same(degraded.problems, [], 'no gap, no duplicate, no member over a limit');

    const restarted = await restarting;
    pids[2] = restarted.pid;
    t.ok(restarted.keptData, `node3 restarted on its kept data in ${(restarted.startupMs / 1000).toFixed(1)} s`);
    let states = new Map<string, string>();
    const rejoinDeadline = Date.now() + 60_000;
    while (Date.now() < rejoinDeadline) {
      states = await ringStatus(node1);
      if (states.get(node3.address) === 'UN') break;
      await sleep(1000);
    }
    t.equal(states.get(node3.address), 'UN', 'node1 sees node3 Up and Normal again');
    t.equal(states.get(node2.address), 'UN', 'and node2 too');

    // A full repair of the hot keyspace from node3, then every replica agrees.
    const repairStarted = Date.now();
    await nodetool(['repair', '-full', hot.keyspace], { runDir: node3.runDir, timeoutMs: 120_000 });
    const repairMs = Date.now() - repairStarted;
    t.comment(`nodetool repair -full ${hot.keyspace} on node3 took ${(repairMs / 1000).toFixed(1)} s`);
    const allReader = await readerStore(hot, points, 'ALL');
    const atAll = await readBack(allReader, load.acknowledged);
    await allReader.close();
    t.same(atAll.missing, [], 'every acknowledged acquire is read at ALL once node3 is back');
    // node3 coordinating a read at ONE: the strict proof (node3 alone alive) is in scenario 2.
    const fromNode3 = await readerStore(hot, [points[2] as string], 'ONE');
    const atOne = await readBack(fromNode3, load.acknowledged);
    await fromNode3.close();
    t.same(atOne.missing, [], 'and at ONE through node3 after the repair');

    summaries.push(
      summaryLine({
        scenario: '1 node of 3 SIGKILLed under load',
        load: `${load.acquires} acquires + ${load.checks} checks over ${load.seconds.toFixed(0)} s (2 clients, ${MEMBERS.length} members)`,
        fault: `SIGKILL node3 at ${(killAt / 1000).toFixed(0)} s (next acquire acknowledged ${((firstAfter('201') - killAt) / 1000).toFixed(1)} s after it); restarted (data kept) in ${(restarted.startupMs / 1000).toFixed(0)} s, UN again, nodetool repair -full ${(repairMs / 1000).toFixed(0)} s`,
        acknowledged: load.acknowledged.length,
        note: 'each read back at LOCAL_QUORUM with node3 down, at ALL after the repair, at ONE from node3 alone in scenario 2',
        lost: new Set([...degraded.missing, ...atAll.missing, ...atOne.missing].map((m) => m.licenseId)).size,
        overLimit: degraded.problems.length,
        errors,
      }),
    );
  });

  await t.test('2. two nodes down: 503 STORE_UNAVAILABLE, checks from memory, recovery without a restart', { timeout: 150_000 }, async (t) => {
    // Every member loaded while the store answers: from here on they are "in memory".
    // The commands go to six members of their own, with no history: the rules allow every one of
    // them (scenario 1's load, whose size depends on the machine, may have used up a limit of any
    // of MEMBERS, and a refusal from memory needs no store), so only the store can refuse them.
    const commandMembers = Array.from({ length: 6 }, (_, i) => `tn-two-down-${i}`);
    const warm = await Promise.all([...MEMBERS, ...commandMembers].map((m) => send(inject, checkOptions(m, 'd1', 't1'), HANG_MS)));
    t.same(
      warm.filter((w) => w.key !== '200').map((w) => w.key),
      [],
      'every member is checked (and loaded) while all nodes are up',
    );
    const before = acknowledged.length;

    await Promise.all([killNode(pids[0] as number), killNode(pids[1] as number)]);
    const downAt = performance.now();
    const answers: Answered[] = [];
    const record = (op: Answered['op'], answer: Awaited<ReturnType<typeof send>>): Answered => {
      const answered: Answered = {
        op,
        at: performance.now() - downAt,
        ms: answer.ms,
        key: answer.key,
        retryAfter: answer.retryAfter,
        ...(answer.message ? { message: answer.message } : {}),
      };
      answers.push(answered);
      return answered;
    };
    // Commands on six members at once: each refused, each within the bound.
    const refused = await Promise.all(commandMembers.map(async (memberId, i) => record('acquire', await send(inject, acquireOptions(memberId, 'd2', `t${i + 1}`), HANG_MS))));
    const refusedMs = refused.map((a) => Math.round(a.ms));
    t.comment(`acquires with two nodes down: ${refused.map((a) => a.key).join(', ')} in ${refusedMs.join(', ')} ms (${refused[0]?.message ?? ''})`);
    t.same(
      refused.map((a) => [a.key, a.retryAfter]),
      refused.map(() => ['503 STORE_UNAVAILABLE', '1']),
      'every command answers 503 STORE_UNAVAILABLE with Retry-After: 1',
    );
    t.ok(
      Math.max(...refusedMs) <= REFUSAL_BOUND_MS,
      `each within ${REFUSAL_BOUND_MS} ms (2 x the ${REQUEST_TIMEOUT_MS} ms request timeout + 1.5 s): max ${Math.max(...refusedMs)} ms`,
    );

    // Checks of the members that had nothing in flight (a member whose command had an unknown
    // outcome is dropped from memory): answered from memory.
    const checks = await Promise.all(MEMBERS.map(async (m) => record('check', await send(inject, checkOptions(m, 'd2', 't2'), HANG_MS))));
    t.same(
      checks.filter((c) => c.key !== '200').map((c) => c.key),
      [],
      `checks of the ${checks.length} members in memory are answered 200 (max ${Math.round(Math.max(...checks.map((c) => c.ms)))} ms)`,
    );

    // node3, repaired in scenario 1, is the only node alive: a read at ONE can only be its own data.
    const alone = await readerStore(hot, [points[2] as string], 'ONE');
    let fromNode3 = await readBack(alone, acknowledged).catch((error: unknown) => error as Error);
    for (let tries = 1; fromNode3 instanceof Error && tries < 5; tries++) {
      await sleep(2000);
      fromNode3 = await readBack(alone, acknowledged).catch((error: unknown) => error as Error);
    }
    await alone.close();
    if (fromNode3 instanceof Error) t.fail(`node3 alone could not be read at ONE: ${fromNode3.message}`);
    else t.same(fromNode3.missing, [], `node3 alone holds every event acknowledged in scenario 1 (${before} acquires, read at ONE with node1 and node2 dead)`);

    // node1 starts again; commands are tried all along. Once it is back, two of three replicas
    // make LOCAL_QUORUM and LOCAL_SERIAL possible again. node2 stays down until then.
    const restartAt = performance.now();
    let node1BackAt: number | null = null;
    const node1Start = restartNode(ring, node1, NODE_START_MS).then((started) => {
      node1BackAt = performance.now();
      return started;
    });
    const recovery = await untilAcquired('tn-probe-2', 120_000);
    const acquiredAt = performance.now();
    // node2 starts only now, so it had no part in the recovery; it is back before scenario 3.
    const node2Start = restartNode(ring, node2, NODE_START_MS);
    for (const a of recovery.answers) answers.push({ ...a, at: a.at + restartAt - downAt });
    const sinceBack = node1BackAt === null ? null : (acquiredAt - node1BackAt) / 1000;
    const recoveryText = `${((acquiredAt - restartAt) / 1000).toFixed(1)} s after node1 was started again (${sinceBack === null ? 'before it answered CQL: its gossip was up' : `${sinceBack.toFixed(1)} s after it answered CQL`}), node2 still down`;
    t.ok(recovery.licenseId, `an acquire is acknowledged ${recoveryText}, without restarting the service`);
    const waiting = recovery.answers.filter((a) => a.key !== '201');
    t.same(
      waiting.filter((a) => a.key !== '503 STORE_UNAVAILABLE' || a.retryAfter !== '1').map((a) => a.key),
      [],
      `until then only 503 STORE_UNAVAILABLE with Retry-After (${waiting.length})`,
    );
    t.ok(Math.max(0, ...waiting.map((a) => a.ms)) <= REFUSAL_BOUND_MS, `each within ${REFUSAL_BOUND_MS} ms (max ${Math.round(Math.max(0, ...waiting.map((a) => a.ms)))} ms)`);
    if (recovery.licenseId) acknowledged.push({ memberId: 'tn-probe-2', licenseId: recovery.licenseId });

    // node1 has just come back: its first reads may still time out (seen once), so read again.
    let stored = await readBack(quorumReader, acknowledged, MEMBERS).catch((error: unknown) => error as Error);
    for (let tries = 1; stored instanceof Error && tries < 5; tries++) {
      await sleep(2000);
      stored = await readBack(quorumReader, acknowledged, MEMBERS).catch((error: unknown) => error as Error);
    }
    if (stored instanceof Error) throw stored;
    t.same(stored.missing, [], 'nothing acknowledged before is lost (LOCAL_QUORUM)');
    t.same(stored.problems, [], 'no member over a limit');
    const [node1Started, node2Started] = await Promise.all([node1Start, node2Start]);
    pids[0] = node1Started.pid;
    pids[1] = node2Started.pid;
    t.comment(
      `node1 answered CQL ${(node1Started.startupMs / 1000).toFixed(1)} s after its start, node2 (started after the recovery) ${(node2Started.startupMs / 1000).toFixed(1)} s after its own`,
    );

    const refusals = answers.filter((a) => a.key === '503 STORE_UNAVAILABLE').map((a) => a.ms);
    summaries.push(
      summaryLine({
        scenario: '2 nodes of 3 down',
        load: `${commandMembers.length + recovery.answers.length} acquires + ${checks.length + MEMBERS.length} checks over ${((acquiredAt - downAt) / 1000).toFixed(0)} s (6 at once, then one at a time)`,
        fault: `SIGKILL node1 and node2; 503s in ${Math.round(Math.min(...refusals))}-${Math.round(Math.max(...refusals))} ms; first acquire acknowledged ${recoveryText}; no service restart`,
        acknowledged: acknowledged.length - before,
        note: `${acknowledged.length} in the file so far, all read back at LOCAL_QUORUM`,
        lost: stored.missing.length,
        overLimit: stored.problems.length,
        errors: errorCounts(answers),
      }),
    );
  });

  await t.test('3. whole-cluster restart: nothing acknowledged is lost', { timeout: 150_000 }, async (t) => {
    await waitForAgreement(ring, 60_000);
    t.pass('all three nodes up and agreeing before the restart');
    const before = acknowledged.length;
    let killAt = 0;
    const load = await runLoad(inject, {
      members: MEMBERS,
      concurrency: 2,
      durationMs: 7000,
      boundMs: HANG_MS,
      during: async (elapsed) => {
        await sleep(3500);
        await Promise.all(pids.map((pid) => killNode(pid)));
        killAt = elapsed(); // every JVM is gone: nothing sent from now on can be acknowledged
      },
    });
    acknowledged.push(...load.acknowledged);
    t.ok(load.acknowledged.length > 0, `acquires were acknowledged before the kill (${load.acknowledged.length})`);
    t.same(undocumented(load.answers), [], 'every answer is a success, a rules refusal (409) or a documented 503 with Retry-After');
    // An acquire the rules refuse needs no store (409 from memory); any other must be refused.
    const sentAfter = load.answers.filter((a) => a.at > killAt && a.op === 'acquire');
    t.same(
      sentAfter.filter((a) => a.key !== '503 STORE_UNAVAILABLE' && a.key !== '409 LICENSE_REFUSED').map((a) => a.key),
      [],
      `with every node dead, acquires answer 503 STORE_UNAVAILABLE or a rules refusal (${sentAfter.length}: ${errorCounts(sentAfter)}, max ${Math.round(Math.max(0, ...sentAfter.map((a) => a.ms)))} ms)`,
    );

    const restartStarted = Date.now();
    const started = await Promise.all(ring.nodes.map((n) => restartNode(ring, n, NODE_START_MS)));
    started.forEach((s, i) => (pids[i] = s.pid));
    t.ok(
      started.every((s) => s.keptData),
      'each node started again on its kept data',
    );
    const restartMs = Date.now() - restartStarted;
    const recovery = await untilAcquired('tn-probe-3', 90_000);
    t.ok(recovery.licenseId, `the service acknowledges an acquire ${(recovery.ms / 1000).toFixed(1)} s after the three nodes answer CQL, without a restart`);
    t.same(
      recovery.answers.filter((a) => a.key !== '201' && a.key !== '503 STORE_UNAVAILABLE').map((a) => a.key),
      [],
      'until then only 503 STORE_UNAVAILABLE',
    );
    if (recovery.licenseId) acknowledged.push({ memberId: 'tn-probe-3', licenseId: recovery.licenseId });

    // A fresh driver (the old one's connections all died) reads everything at LOCAL_QUORUM.
    const reader = await readerStore(hot, points, 'LOCAL_QUORUM');
    const stored = await readBack(reader, acknowledged, MEMBERS);
    await reader.close();
    t.same(stored.missing, [], `every one of the ${acknowledged.length} acquires acknowledged in this file is read back at LOCAL_QUORUM`);
    t.same(stored.problems, [], 'no gap, no duplicate, no member over a limit');

    summaries.push(
      summaryLine({
        scenario: 'whole cluster (3 of 3) SIGKILLed under load and restarted',
        load: `${load.acquires} acquires + ${load.checks} checks over ${load.seconds.toFixed(0)} s (2 clients, ${MEMBERS.length} members)`,
        fault: `SIGKILL all three at ${(killAt / 1000).toFixed(0)} s; restarted together (data kept) in ${(restartMs / 1000).toFixed(0)} s; first acquire acknowledged ${(recovery.ms / 1000).toFixed(1)} s later, no service restart`,
        acknowledged: acknowledged.length - before,
        note: `${acknowledged.length} in the whole file, all read back at LOCAL_QUORUM after the restart`,
        lost: stored.missing.length,
        overLimit: stored.problems.length,
        errors: errorCounts([...load.answers, ...recovery.answers]),
      }),
    );
  });

  for (const line of summaries) t.comment(line);
});

/**
 * The OpenAPI document (openapi.json) describes what the service really answers: schemathesis
 * fuzzes the running service from it and every check passes (no 5xx, only documented statuses,
 * bodies and content types as documented, invalid input refused with a 4xx, token-protected
 * routes refuse a missing or wrong token).
 *
 * Two services, both on loopback port 0:
 * - the service as `npm start` runs it (worker threads, a SQLite store in a temp dir, the admin
 *   token, a per-member rate limit low enough that the fuzzer meets 429s): every route but the
 *   cluster admin ones;
 * - a cluster node built the way the OpenAPI generator builds it (one node, in-memory
 *   membership): the cluster admin routes. Registering a node is fuzzed with invalid bodies
 *   only: a valid one would make the node call whatever address the fuzzer made up.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, readConfigFile, DEFAULT_CONFIG_PATH } from '../../src/config/load.ts';
import { createServer } from '../../src/server.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { InMemoryMembershipStore } from '../../src/cluster/membership-store.ts';
import { REPO_ROOT, startService } from '../support/process.ts';
import { answeredStatuses, casesGenerated, describeStatuses, fuzz, schemathesisExecutable, summary, type FuzzRun } from './fuzz-support.ts';

const TOKEN = 'conformance-admin-token-0123456789';
const RUN_BOUND_MS = 150_000;

function report(t: Test, title: string, run: FuzzRun): void {
  t.comment(`schemathesis, ${title}: exit ${run.code}${run.timedOut ? ' (killed at the time bound)' : ''} after ${run.seconds.toFixed(1)} s`);
  for (const line of summary(run.output)) t.comment(`  ${line}`);
}

function assertPassed(t: Test, title: string, run: FuzzRun): void {
  t.notOk(run.timedOut, `${title}: schemathesis finished within ${RUN_BOUND_MS / 1000} s`);
  t.equal(run.code, 0, `${title}: every check passed (the failures are in the log above)`);
  t.ok(casesGenerated(run.output) > 0, `${title}: schemathesis generated test cases`);
}

t.test('schemathesis finds the service doing what openapi.json says', async (t) => {
  const executable = await schemathesisExecutable();
  const dir = await mkdtemp(join(tmpdir(), 'conformance-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  await t.test('the service as deployed: edge, admin and debug routes', async (t) => {
    const file = JSON.parse(await readFile(`${REPO_ROOT}config/default.json`, 'utf8')) as { service: Record<string, unknown> };
    const config = {
      ...file,
      service: {
        ...file.service,
        store: 'sqlite',
        sqlite: { path: join(dir, 'events.db') },
        actors: { ...(file.service['actors'] as object), workers: 2 },
        admin: { token: TOKEN, port: null },
        rateLimit: { perMemberPerSecond: 5, burst: 20 },
      },
    };
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify(config));
    const service = await startService(['--config', configPath], {}, 60_000);
    t.teardown(async () => {
      service.child.kill('SIGTERM');
      await service.exited;
    });

    const run = await fuzz({ executable, baseUrl: service.baseUrl, token: TOKEN, cwd: dir, timeoutMs: RUN_BOUND_MS, args: ['--exclude-path-regex', '^/v1/admin/cluster'] });
    report(t, 'deployed service', run);
    const statuses = await answeredStatuses(service.baseUrl, TOKEN);
    t.comment(`statuses the service answered during the run: ${describeStatuses(statuses)}`);
    assertPassed(t, 'deployed service', run);
    t.ok(statuses.has('401'), 'the fuzzer met 401 (token taken off or wrong) and found it documented');
    t.ok(statuses.has('429'), 'the fuzzer met 429 RATE_LIMITED and found it documented');
    t.ok(statuses.has('405'), 'the fuzzer met 405 METHOD_NOT_ALLOWED for methods the document does not list');
    t.ok(
      [...statuses.keys()].some((status) => status.startsWith('2')),
      'and successes',
    );
    t.notOk(
      [...statuses.keys()].some((status) => status.startsWith('5')),
      'and never a 5xx',
    );
    t.equal(service.child.exitCode, null, 'the service is still running');
  });

  await t.test('a cluster node: the cluster admin routes', async (t) => {
    const rules = (readConfigFile(DEFAULT_CONFIG_PATH) as { rules: unknown }).rules;
    const config = parseConfig(
      {
        service: {
          host: '127.0.0.1',
          port: 0,
          store: 'cassandra', // what cluster mode requires; the store handed to createServer replaces it
          actors: { workers: 0 },
          admin: { token: TOKEN, port: null },
          cluster: { nodeId: 'conformance-node-7f3a', clusterId: 'conformance' },
        },
        rules,
      },
      null,
    );
    const server = await createServer(config, { store: new SqliteEventStore(':memory:'), membership: new InMemoryMembershipStore(), watchRules: false });
    t.teardown(() => server.close());
    const { edge: baseUrl } = await server.listen();

    const cluster = ['--include-path-regex', '^/v1/admin/cluster'];
    const routes = await fuzz({ executable, baseUrl, token: TOKEN, cwd: dir, timeoutMs: RUN_BOUND_MS, args: [...cluster, '--exclude-path', '/v1/admin/cluster/nodes'] });
    report(t, 'cluster routes', routes);
    assertPassed(t, 'cluster routes', routes);

    const register = await fuzz({
      executable,
      baseUrl,
      token: TOKEN,
      cwd: dir,
      timeoutMs: RUN_BOUND_MS,
      args: ['--include-path', '/v1/admin/cluster/nodes', '--mode', 'negative'],
    });
    report(t, 'node registration, invalid bodies', register);
    assertPassed(t, 'node registration, invalid bodies', register);

    const view = (await (await fetch(`${baseUrl}/v1/admin/cluster`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { nodes: { id: string; address: string }[] };
    t.same(
      view.nodes.map((node) => node.id),
      ['conformance-node-7f3a'],
      'no node was registered: the fuzzer never made the node call an address it invented',
    );
  });
});

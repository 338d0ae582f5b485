/**
 * The load generator against a real node: a test server on an in-memory SQLite store,
 * listening on 127.0.0.1 (a free port), driven over real HTTP for a bounded count.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/load/cli.ts';
import { runLoad, type LoadReport } from '../../src/load/runner.ts';
import { OPERATIONS, type Scenario } from '../../src/load/scenario.ts';
import type { OperationReport } from '../../src/load/stats.ts';
import { startTestServer } from '../support/fixtures.ts';
import { REPO_ROOT } from '../support/process.ts';

const scenario: Partial<Scenario> = {
  name: 'test',
  members: { count: 50, zipf: 1, devicesPerMember: 2, idPrefix: 'lt' },
  // 'open-a' has no yearly limit, 'strict-*' refuse early: both answers show up.
  titles: ['film-1', 'film-2', 'open-a', 'strict-a', 'strict-b'],
  mix: { check: 40, acquire: 25, renew: 10, release: 10, playback: 10, deactivate: 5 },
  concurrency: 8,
  durationSeconds: 20,
  maxRequests: 600,
  seed: 3,
};

async function liveTarget(t: Test): Promise<string> {
  const server = await startTestServer();
  t.teardown(() => server.close());
  return server.app.listen({ host: '127.0.0.1', port: 0 });
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function checkSane(t: Test, name: string, op: OperationReport): void {
  t.equal(sum(Object.values(op.statuses)), op.count, `${name}: status counts sum to the count`);
  t.equal(op.ok + op.refusals + op.rejected + op.errors, op.count, `${name}: outcomes sum to the count`);
  const l = op.latencyMs;
  t.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, `${name}: percentiles ordered ${JSON.stringify(l)}`);
  if (op.count > 0) t.ok(l.p50 > 0, `${name}: latencies recorded`);
}

t.test('a bounded run against a live node reports sane, consistent figures and writes them as JSON', async (t) => {
  const target = await liveTarget(t);
  const dir = t.testdir();
  const out = join(dir, 'nested', 'run.json');
  const report = await runLoad({ scenario: scenario, targets: [target], out });

  t.equal(report.stopReason, 'maxRequests');
  t.equal(report.total.count, 600, 'exactly maxRequests requests');
  t.equal(sum(OPERATIONS.map((op) => report.operations[op].count)), report.total.count, 'per-operation counts sum to the total');
  checkSane(t, 'total', report.total);
  for (const op of OPERATIONS) checkSane(t, op, report.operations[op]);
  t.equal(report.total.errors, 0, `no 5xx or transport errors: ${JSON.stringify(report.total.codes)}`);
  t.ok((report.operations.acquire.statuses['201'] ?? 0) > 0, 'acquires produced licenses (201)');
  t.ok((report.operations.renew.statuses['200'] ?? 0) > 0, 'renews used real license ids (200)');
  t.ok((report.operations.playback.statuses['202'] ?? 0) > 0, 'playback used real license ids (202)');
  t.ok((report.operations.acquire.codes['LICENSE_REFUSED'] ?? 0) > 0, 'refusals are counted by code');
  t.equal(report.operations.acquire.refusals, report.operations.acquire.codes['LICENSE_REFUSED'], 'acquire refusals are LICENSE_REFUSED');
  t.equal(report.perTarget[target], 600);
  t.equal(report.scenario.seed, 3);

  const written = JSON.parse(readFileSync(out, 'utf8')) as LoadReport;
  t.equal(written.outPath, out);
  t.same(written.total, report.total, 'the JSON holds the same report');
  t.same(written.operations, report.operations);
});

t.test('the count bound stops at exactly N requests across two targets, well before the time bound', async (t) => {
  const target = await liveTarget(t);
  const second = target.replace('127.0.0.1', 'localhost');
  const started = Date.now();
  const report = await runLoad({ scenario: scenario, targets: [target, second], overrides: { maxRequests: 137, concurrency: 16 } });
  t.equal(report.total.count, 137);
  t.equal(report.stopReason, 'maxRequests');
  t.ok(Date.now() - started < 15_000, 'did not wait for the 20 s duration');
  t.same(Object.values(report.perTarget).sort(), [68, 69], 'round-robin over the targets');
});

t.test('the time bound stops the run by itself', async (t) => {
  const target = await liveTarget(t);
  const report = await runLoad({ scenario: scenario, targets: [target], overrides: { durationSeconds: 1, maxRequests: 10_000_000, concurrency: 2 } });
  t.equal(report.stopReason, 'duration');
  t.ok(report.elapsedSeconds >= 1 && report.elapsedSeconds < 5, `stopped after ~1 s (${report.elapsedSeconds})`);
  t.ok(report.total.count > 0 && report.total.count < 10_000_000);
});

t.test('non-loopback targets are refused before any request', async (t) => {
  await t.rejects(runLoad({ scenario: scenario, targets: ['http://10.1.2.3:3000'] }), { name: 'TargetRefusedError', message: /not a loopback address/ });
  await t.rejects(runLoad({ scenario: scenario, targets: ['http://127.0.0.1:1', 'http://example.com:80'] }), { name: 'TargetRefusedError' }, 'one bad target refuses the run');
  const stderr: string[] = [];
  const sink = (into: string[]): NodeJS.WritableStream => ({ write: (chunk: string) => into.push(chunk) }) as unknown as NodeJS.WritableStream;
  const code = await runCli(['--scenario', 'config/load/smoke.json', '--target', 'http://192.168.1.1:3000'], { stdout: sink([]), stderr: sink(stderr) });
  t.equal(code, 2, 'the CLI exits 2');
  t.match(stderr.join(''), /not a loopback address/);
});

t.test('npm run load exits 2 on a non-loopback target and on a bad scenario field', async (t) => {
  const run = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/load/main.ts', ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  const remote = await run(['--scenario', 'config/load/smoke.json', '--target', 'http://8.8.8.8:80']);
  t.equal(remote.code, 2);
  t.match(remote.stderr, /not a loopback address/);
  const bad = await run(['--scenario', 'config/load/smoke.json', '--target', 'http://127.0.0.1:1', '--concurrency', '0']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /concurrency must be >= 1/);
});

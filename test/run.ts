/**
 * `npm test`: makes sure a Cassandra answers, runs the whole tap suite against it (the suites that
 * start a three-node Cassandra last, one at a time: test/suites.ts ONE_AT_A_TIME), and stops
 * what it started. With CASSANDRA_CONTACT_POINTS pointing at an answering cluster (a user's
 * own), it starts nothing. Ends with one plain summary line: "tests: N passed, N failed".
 *
 * `npm run test:unit` (`--unit`): every suite but those test/suites.ts names (they need
 * Cassandra, a JDK or Python), with Cassandra at a closed port and no JDK on the PATH, so that a
 * suite that needs one and is not named there fails instead of quietly using a local node.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cassandraContactPointsFrom } from '../src/config/load.ts';
import { isAnswering, startCassandra, stopCassandra } from '../cluster/cassandra/node.ts';
import { NOT_UNIT, ONE_AT_A_TIME } from './suites.ts';
import { TapFailures } from './runner/tap-failures.ts';

const DEFAULT_CONTACT_POINT = '127.0.0.1:9042';
/** Nothing listens on port 1: the driver is refused at once. */
const NO_CASSANDRA = '127.0.0.1:1';
const TEST_DIR = fileURLToPath(new URL('.', import.meta.url));
const UNIT = process.argv[2] === '--unit';

function hostsAndPort(points: string[]): { hosts: string[]; port: number } {
  const port = Number(points[0]?.split(':')[1] ?? 9042);
  return { hosts: points.map((p) => p.split(':')[0] ?? p), port };
}

async function ensureCassandra(): Promise<{ contactPoints: string[]; startedByUs: boolean }> {
  const configured = cassandraContactPointsFrom(process.env);
  const contactPoints = configured ?? [DEFAULT_CONTACT_POINT];
  const { hosts, port } = hostsAndPort(contactPoints);
  if (await isAnswering(hosts, port, 5000)) {
    console.log(`# using the Cassandra answering at ${contactPoints.join(', ')}`);
    return { contactPoints, startedByUs: false };
  }
  if (configured) throw new Error(`CASSANDRA_CONTACT_POINTS=${configured.join(',')} does not answer CQL`);
  console.log('# no Cassandra answers at 127.0.0.1:9042: starting one from cluster/cassandra (Maven jars, JDK 17)');
  // Not fresh: this is the user's own node (cluster/cassandra/.run), and the suites write only
  // their own keyspaces, so a stopped node's events survive an `npm test` (CI starts --fresh).
  const started = await startCassandra({ timeoutMs: 180_000 });
  console.log(`# Cassandra answers on ${started.contactPoint} (pid ${started.pid}, ${(started.startupMs / 1000).toFixed(1)} s)`);
  return { contactPoints: [started.contactPoint], startedByUs: true };
}

function runTap(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; total: number; pass: number; fail: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [new URL('../node_modules/tap/dist/esm/run.mjs', import.meta.url).pathname, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let tail = '';
    const failures = new TapFailures();
    child.stdout.setEncoding('utf8'); // whole characters per chunk, never half of one
    child.stdout.on('data', (chunk: string) => {
      process.stdout.write(chunk);
      failures.push(chunk);
      tail = (tail + chunk).slice(-4000);
    });
    child.on('exit', (code) => {
      const failed = failures.report();
      if (failed.length > 0) console.log(`\n# failures (${failed.length}), repeated here from the log above:\n${failed.map((f) => `not ok: ${f}`).join('\n')}\n`);
      const summary = /# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?/.exec(tail);
      resolve({
        code: code ?? 1,
        total: Number(summary?.[1] ?? 0),
        pass: Number(summary?.[2] ?? 0),
        fail: Number(summary?.[3] ?? (code === 0 ? 0 : 1)),
      });
    });
  });
}

/** Every suite, as tap names it (relative to the repository root, which npm runs us from). */
function testFiles(): string[] {
  return readdirSync(TEST_DIR, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => `test/${file}`)
    .sort();
}

/** A directory whose `java` and `mvn` fail with a message saying where the suite belongs. */
function withoutJdk(): string {
  const dir = mkdtempSync(join(tmpdir(), 'test-unit-no-jdk-'));
  for (const tool of ['java', 'mvn']) {
    const file = join(dir, tool);
    writeFileSync(file, `#!/bin/sh\necho "npm run test:unit runs without a JDK: a suite that runs ${tool} belongs in test/suites.ts" >&2\nexit 1\n`);
    chmodSync(file, 0o755);
  }
  return dir;
}

async function unit(args: string[]): Promise<number> {
  const files = testFiles();
  const unknown = [...NOT_UNIT.keys()].filter((file) => !files.includes(file));
  if (unknown.length > 0) throw new Error(`test/suites.ts names suites that do not exist: ${unknown.join(', ')}`);
  const noJdk = withoutJdk();
  // JAVA_HOME and MVN would lead cluster/cassandra/node.ts past the PATH to a real JDK.
  const { JAVA_HOME: _javaHome, MVN: _mvn, ...env } = process.env;
  const started = performance.now();
  try {
    const result = await runTap([...args, ...files.filter((file) => !NOT_UNIT.has(file))], {
      ...env,
      PATH: `${noJdk}${delimiter}${process.env['PATH'] ?? ''}`,
      CASSANDRA_CONTACT_POINTS: NO_CASSANDRA,
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    console.log(`unit tests: ${result.pass} passed, ${result.fail} failed, ${seconds} s (npm test also runs the ${NOT_UNIT.size} suites test/suites.ts names)`);
    return result.code === 0 && result.total > 0 ? 0 : 1;
  } finally {
    rmSync(noJdk, { recursive: true, force: true });
  }
}

/** Every suite but the three-node ones (tap's jobs), then those one at a time (test/suites.ts). */
function wholeSuitePhases(options: string[]): string[][] {
  const files = testFiles();
  const unknown = [...ONE_AT_A_TIME].filter((file) => !files.includes(file) || !NOT_UNIT.has(file));
  if (unknown.length > 0) throw new Error(`test/suites.ts: ONE_AT_A_TIME names suites that do not exist or are not in NOT_UNIT: ${unknown.join(', ')}`);
  return [
    [...options, ...files.filter((file) => !ONE_AT_A_TIME.has(file))],
    [...options, '--jobs=1', ...files.filter((file) => ONE_AT_A_TIME.has(file))],
  ];
}

async function main(): Promise<number> {
  if (UNIT) return unit(process.argv.slice(3));
  const cassandra = await ensureCassandra();
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping || !cassandra.startedByUs) return;
    stopping = true;
    await stopCassandra();
    console.log('# stopped the Cassandra this run started');
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(143)));
  try {
    const env = { ...process.env, CASSANDRA_CONTACT_POINTS: cassandra.contactPoints.join(',') };
    const args = process.argv.slice(2);
    // Files named on the command line run as tap runs them; the whole suite runs in two phases.
    const phases = args.some((arg) => !arg.startsWith('-')) ? [args] : wholeSuitePhases(args);
    let pass = 0;
    let fail = 0;
    let failed = false;
    for (const phase of phases) {
      const result = await runTap(phase, env);
      pass += result.pass;
      fail += result.fail;
      failed ||= result.code !== 0 || result.total === 0;
    }
    console.log(`tests: ${pass} passed, ${fail} failed`);
    return failed ? 1 : 0;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`${UNIT ? 'npm run test:unit' : 'npm test'}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);

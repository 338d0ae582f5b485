/**
 * `npm test`: makes sure a Cassandra answers, runs the whole tap suite against it, and stops
 * what it started. With CASSANDRA_CONTACT_POINTS pointing at an answering cluster (a user's
 * own), it starts nothing. Ends with one plain summary line: "tests: N passed, N failed".
 */
import { spawn } from 'node:child_process';
import { cassandraContactPointsFrom } from '../src/config/load.ts';
import { isAnswering, startCassandra, stopCassandra } from '../cluster/cassandra/node.ts';

const DEFAULT_CONTACT_POINT = '127.0.0.1:9042';

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
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('exit', (code) => {
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

async function main(): Promise<number> {
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
    const result = await runTap(process.argv.slice(2), { ...process.env, CASSANDRA_CONTACT_POINTS: cassandra.contactPoints.join(',') });
    console.log(`tests: ${result.pass} passed, ${result.fail} failed`);
    return result.code === 0 && result.total > 0 ? 0 : 1;
  } finally {
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm test: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);

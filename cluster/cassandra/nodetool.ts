/**
 * nodetool for the local node, run from the same Maven jars and JDK 17 flags as the node itself
 * (node.ts): `java <module flags> -cp <lib>/* org.apache.cassandra.tools.NodeTool -h 127.0.0.1 -p <jmx>`.
 * It talks JMX to the node. Which port:
 *   1. `jmxPort` given; else, for the default node only (no `runDir` given), CASSANDRA_JMX_PORT
 *      (CI names the shared node's port so; it must never redirect a call meant for another node);
 *   2. the port node.ts recorded in the run folder's node.json (it starts every node with local JMX);
 *   3. a node started before JMX was on by default: its JVM (pid from the run folder) gets the
 *      JDK's management agent through the attach API (`jcmd <pid> ManagementAgent.start`),
 *      bound to 127.0.0.1 without authentication like node.ts's own, on a free port. No restart.
 *
 *   flush(keyspace, tables?)       memtables to SSTables
 *   compact(keyspace, tables?)     a major compaction; returns when it is done
 *   tableStats(keyspace, tables?)  what `nodetool tablestats` says per table, parsed
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RUN_DIR, freePort, JDK17_MODULE_FLAGS, javaBinary, recordedJmxPort, resolveJars } from './node.ts';

const MAIN_CLASS = 'org.apache.cassandra.tools.NodeTool';
const HOST = '127.0.0.1';
// WARN and above on stderr: Cassandra's jars otherwise log DEBUG lines into nodetool's output.
const TOOLS_LOGBACK = fileURLToPath(new URL('./logback-tools.xml', import.meta.url));

export interface NodetoolOptions {
  /** The node's run folder (default <repo>/cluster/cassandra/.run): where its JMX port and pid are found. */
  runDir?: string | undefined;
  /** The node's JMX port on 127.0.0.1; found from the run folder when absent (see above). */
  jmxPort?: number | undefined;
  /** Bound for one nodetool command (default 10 minutes: a major compaction of a large table). */
  timeoutMs?: number | undefined;
}

export interface TableStats {
  keyspace: string;
  table: string;
  /** "Space used (live)": bytes of the live SSTables on disk, every component (data, index, filter, ...). */
  spaceUsedLive: number;
  /** "Space used (total)": live SSTables plus obsolete ones not deleted yet. */
  spaceUsedTotal: number;
  /** "SSTable count". */
  sstableCount: number;
  /** "SSTable Compression Ratio": compressed / uncompressed size; null when there is no SSTable (nodetool says -1). */
  compressionRatio: number | null;
  /** "Number of partitions (estimate)". */
  partitions: number;
}

const CQL_NAME = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

function checkNames(keyspace: string, tables: readonly string[]): void {
  for (const name of [keyspace, ...tables]) if (!CQL_NAME.test(name)) throw new Error(`nodetool: "${name}" is not a keyspace or table name`);
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(new Error(`${path.basename(file)} ${args.slice(-3).join(' ')}: ${error.message}`));
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

function readPid(runDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(runDir, 'cassandra.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The JDK's jcmd next to the java node.ts runs. */
function jcmdBinary(): string {
  const java = javaBinary();
  return java === 'java' ? 'jcmd' : path.join(path.dirname(java), 'jcmd');
}

/** The management agent's port from `jcmd <pid> ManagementAgent.status`, undefined when it is off. */
export function agentPort(statusOutput: string): number | undefined {
  if (!/Agent: enabled/.test(statusOutput)) return undefined;
  const m = /com\.sun\.management\.jmxremote\.port = (\d+)/.exec(statusOutput);
  return m?.[1] ? Number(m[1]) : undefined;
}

const resolvedPorts = new Map<string, Promise<number>>();

async function enableAgent(runDir: string): Promise<number> {
  const pid = readPid(runDir);
  if (pid === undefined) throw new Error(`nodetool: no JMX port for the node of ${runDir} (no node.json port, no cassandra.pid); pass jmxPort or set CASSANDRA_JMX_PORT`);
  const jcmd = jcmdBinary();
  const status = await run(jcmd, [String(pid), 'ManagementAgent.status'], 30_000);
  if (status.code !== 0) throw new Error(`nodetool: ${jcmd} ${pid} ManagementAgent.status failed (${status.code}): ${status.stderr || status.stdout}`);
  const running = agentPort(status.stdout);
  if (running !== undefined) return running;
  const port = await freePort();
  const settings = [`jmxremote.host=${HOST}`, `jmxremote.port=${port}`, `jmxremote.rmi.port=${port}`, 'jmxremote.authenticate=false', 'jmxremote.ssl=false'];
  const started = await run(jcmd, [String(pid), 'ManagementAgent.start', ...settings], 30_000);
  if (started.code !== 0 || !/executed successfully/.test(started.stdout)) {
    throw new Error(`nodetool: could not start JMX in Cassandra (pid ${pid}) with ${jcmd}: ${started.stderr || started.stdout}`);
  }
  return port;
}

/** The node's JMX port (see the module comment for where it comes from). */
export function jmxPortOf(options: NodetoolOptions = {}): Promise<number> {
  if (options.jmxPort !== undefined) return Promise.resolve(options.jmxPort);
  const fromEnv = Number(process.env.CASSANDRA_JMX_PORT);
  if (options.runDir === undefined && process.env.CASSANDRA_JMX_PORT && Number.isInteger(fromEnv) && fromEnv > 0) return Promise.resolve(fromEnv);
  const runDir = path.resolve(options.runDir ?? DEFAULT_RUN_DIR);
  const recorded = recordedJmxPort(runDir);
  if (recorded !== undefined) return Promise.resolve(recorded);
  let port = resolvedPorts.get(runDir);
  if (!port) {
    port = enableAgent(runDir);
    resolvedPorts.set(runDir, port);
    port.catch(() => resolvedPorts.delete(runDir));
  }
  return port;
}

const UNINITIALIZED_TRIES = 4;

/** Runs one nodetool command; resolves with its standard output, rejects with its message on a non-zero exit. */
export async function nodetool(args: readonly string[], options: NodetoolOptions = {}): Promise<string> {
  const [libDir, port] = await Promise.all([resolveJars(), jmxPortOf(options)]);
  const runDir = path.resolve(options.runDir ?? DEFAULT_RUN_DIR);
  const jvm = [
    '-Xmx256m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1', // a short-lived client: start fast rather than optimise
    ...JDK17_MODULE_FLAGS,
    `-Dlogback.configurationFile=${TOOLS_LOGBACK}`,
    // nodetool keeps a command history under ~/.cassandra: the run folder's tmp/ instead of $HOME.
    `-Duser.home=${path.join(runDir, 'tmp')}`,
    '-cp',
    path.join(libDir, '*'),
    MAIN_CLASS,
  ];
  let result = await run(javaBinary(), [...jvm, '-h', HOST, '-p', String(port), ...args], options.timeoutMs ?? 600_000);
  // nodetool says "Server is not initialized yet" when its own probe of the node's state fails,
  // which a node busy with other work (seen under the whole test suite) makes it do now and then
  // for a command that then succeeds: a few tries, a second apart, before it counts as an answer.
  for (let attempt = 1; attempt < UNINITIALIZED_TRIES && result.code !== 0 && /Server is not initialized yet/.test(result.stderr + result.stdout); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    result = await run(javaBinary(), [...jvm, '-h', HOST, '-p', String(port), ...args], options.timeoutMs ?? 600_000);
  }
  if (result.code !== 0) {
    const message = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(0, 5).join('\n');
    throw new Error(`nodetool ${args.join(' ')} (JMX ${HOST}:${port}) exited ${result.code}: ${message}`);
  }
  return result.stdout;
}

/** Writes the memtables of the keyspace (or of these tables) to SSTables. */
export async function flush(keyspace: string, tables: readonly string[] = [], options: NodetoolOptions = {}): Promise<void> {
  checkNames(keyspace, tables);
  await nodetool(['flush', '--', keyspace, ...tables], options);
}

/** A major compaction of the keyspace (or of these tables): one SSTable per table; returns once it is done. */
export async function compact(keyspace: string, tables: readonly string[] = [], options: NodetoolOptions = {}): Promise<void> {
  checkNames(keyspace, tables);
  await nodetool(['compact', '--', keyspace, ...tables], options);
}

/** `nodetool tablestats -F json` of the keyspace (or of these tables), one entry per table. */
export async function tableStats(keyspace: string, tables: readonly string[] = [], options: NodetoolOptions = {}): Promise<TableStats[]> {
  checkNames(keyspace, tables);
  const targets = tables.length > 0 ? tables.map((table) => `${keyspace}.${table}`) : [keyspace];
  return parseTableStats(await nodetool(['tablestats', '-F', 'json', '--', ...targets], options));
}

function numberField(stats: Record<string, unknown>, key: string, where: string): number {
  const value = stats[key];
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(n)) throw new Error(`nodetool tablestats: ${where} has no number "${key}" (${JSON.stringify(value)})`);
  return n;
}

/** Parses `nodetool tablestats -F json`: { <keyspace>: { tables: { <table>: {...} }, ... } }. */
export function parseTableStats(json: string): TableStats[] {
  // The JSON starts at the first brace: a JVM may print warnings before it.
  const start = json.indexOf('{');
  if (start < 0) throw new Error(`nodetool tablestats: no JSON in ${JSON.stringify(json.slice(0, 200))}`);
  const doc = JSON.parse(json.slice(start)) as unknown;
  if (typeof doc !== 'object' || doc === null) throw new Error('nodetool tablestats: not a JSON object');
  const found: TableStats[] = [];
  for (const [keyspace, body] of Object.entries(doc as Record<string, unknown>)) {
    // Besides the keyspaces, the document may carry totals such as "total_number_of_tables".
    const tables = typeof body === 'object' && body !== null ? (body as { tables?: unknown }).tables : undefined;
    if (typeof tables !== 'object' || tables === null) continue;
    for (const [table, raw] of Object.entries(tables as Record<string, unknown>)) {
      const stats = raw as Record<string, unknown>;
      const where = `${keyspace}.${table}`;
      const spaceUsedLive = numberField(stats, 'space_used_live', where);
      const spaceUsedTotal = numberField(stats, 'space_used_total', where);
      const sstableCount = numberField(stats, 'sstable_count', where);
      const ratio = numberField(stats, 'sstable_compression_ratio', where);
      const partitions = numberField(stats, 'number_of_partitions_estimate', where);
      found.push({ keyspace, table, spaceUsedLive, spaceUsedTotal, sstableCount, compressionRatio: ratio < 0 ? null : ratio, partitions });
    }
  }
  return found;
}

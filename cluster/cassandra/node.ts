/**
 * Start / stop / probe ONE real Apache Cassandra 5.0.x node on a loopback address (127.0.0.1 by
 * default), run from Maven Central jars with the local JDK 17 (no Docker, no tarball). Several
 * nodes forming one cluster: cluster.ts.
 *
 *   resolveJars()      mvn copies cassandra-all + runtime deps into <lib dir>
 *   startCassandra()   keeps (or with `fresh` wipes) the data, renders conf, spawns a detached JVM, waits for CQL
 *   stopCassandra()    SIGTERM, SIGKILL after a grace period
 *   cassandraStatus()  pid alive? CQL answering? where is the data, how big?
 *   isAnswering()      one CQL query against system.local
 *
 * Everything the node writes lives in the run folder (default
 * <repo>/cluster/cassandra/.run): the data survives a stop and a start, `fresh` wipes it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from 'cassandra-driver';

/** Folder of this module: holds pom.xml, cassandra.yaml and logback.xml. */
export const CASSANDRA_DIR: string = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (this file is <repo>/cluster/cassandra/node.ts). */
export const REPO_ROOT: string = path.resolve(CASSANDRA_DIR, '..', '..');
/** Default run folder; everything under it is disposable (git-ignored). */
export const DEFAULT_RUN_DIR: string = path.join(CASSANDRA_DIR, '.run');
/** Default folder of the runtime jars (shared by every run folder). */
export const DEFAULT_LIB_DIR: string = process.env.CASSANDRA_LIB_DIR ? path.resolve(process.env.CASSANDRA_LIB_DIR) : path.join(DEFAULT_RUN_DIR, 'lib');

const POM = path.join(CASSANDRA_DIR, 'pom.xml');
const YAML_TEMPLATE = path.join(CASSANDRA_DIR, 'cassandra.yaml');
const LOGBACK = path.join(CASSANDRA_DIR, 'logback.xml');
const MAIN_CLASS = 'org.apache.cassandra.service.CassandraDaemon';
const LOCAL_DC = 'datacenter1';
const HOST = '127.0.0.1';
const PID_FILE = 'cassandra.pid';
const STATE_FILE = 'node.json';
const STDOUT_LOG = path.join('logs', 'stdout.log');
const SYSTEM_LOG = path.join('logs', 'system.log');
const COMPLETE_MARKER = '.complete.json';
/** Run-folder subfolders every start creates; all but DATA_DIRS are recreated empty (lib/ is never touched). */
const RUN_DIRS = ['data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw', 'logs', 'tmp', 'conf', 'triggers'] as const;
/** The node's data: kept by a start unless `fresh` (an acknowledged event is in data/ or commitlog/). */
const DATA_DIRS: ReadonlySet<string> = new Set(['data', 'commitlog', 'saved_caches', 'hints', 'cdc_raw']);
/** The default single node's address; cluster.ts puts more nodes on the next loopback addresses. */
export const DEFAULT_ADDRESS = '127.0.0.1';

/** Cassandra version pinned in pom.xml. */
export const CASSANDRA_VERSION: string = (() => {
  const m = /<cassandra\.version>([^<]+)<\/cassandra\.version>/.exec(fs.readFileSync(POM, 'utf8'));
  if (!m?.[1]) throw new Error(`cassandra.version property not found in ${POM}`);
  return m[1].trim();
})();

/**
 * Cassandra's Paxos implementation for lightweight transactions (cassandra.yaml `paxos_variant`):
 * v1 takes 4 round trips per conditional write, v2 (Cassandra 4.1+, CEP-14) 2. The default stays
 * v1: bench/acquire-bench.ts found no winner on one node, where there are no round trips between
 * replicas to save (bench/RESULTS.md, section "acquire").
 */
export type PaxosVariant = 'v1' | 'v2';
export const PAXOS_VARIANTS: readonly PaxosVariant[] = ['v1', 'v2'];
export const DEFAULT_PAXOS_VARIANT: PaxosVariant = 'v1';

export interface StartOptions {
  /** Run folder (default <repo>/cluster/cassandra/.run). Its data is kept unless `fresh`. */
  runDir?: string | undefined;
  /** Loopback address the node listens on, for CQL and internode traffic (default 127.0.0.1). */
  address?: string | undefined;
  /** Seed addresses "host:storagePort" (default: this node only). */
  seeds?: string[] | undefined;
  /** cassandra.yaml initial_token (default "0"); one per node in a cluster (cluster.ts). */
  initialToken?: string | undefined;
  /** Hinted handoff (default off: one node has nowhere to send hints; a cluster turns it on). */
  hintedHandoff?: boolean | undefined;
  /** CQL native transport port (default 9042). */
  port?: number | undefined;
  /** Internode storage port (default 7000). */
  storagePort?: number | undefined;
  /** Heap size in MiB, used for -Xms and -Xmx (default 1024). */
  heapMb?: number | undefined;
  /** Give up (and kill the JVM) after this long (default 120000 ms). */
  timeoutMs?: number | undefined;
  /**
   * JMX (for nodetool, see nodetool.ts) listens on 127.0.0.1 only, without authentication: on
   * this port, by default on a free port picked at start (recorded in node.json), off with false.
   */
  jmxPort?: number | false | undefined;
  /** Extra JVM arguments appended before the main class. */
  extraJvmArgs?: string[] | undefined;
  /**
   * Wipe the data of an earlier run in this folder first (default false: a start keeps it, as a
   * restarted production node would). Tests that need an empty node say so.
   */
  fresh?: boolean | undefined;
  /** Kept for callers written when a start wiped by default: keepData true is fresh false. */
  keepData?: boolean | undefined;
  /** cassandra.yaml `paxos_variant` (default DEFAULT_PAXOS_VARIANT). */
  paxosVariant?: PaxosVariant | undefined;
}

export interface StartResult {
  pid: number;
  /** "<address>:<port>" */
  contactPoint: string;
  address: string;
  port: number;
  runDir: string;
  /** The node's data folder (<runDir>/data); commitlog/ and hints/ are its siblings. */
  dataDir: string;
  /** True if the run folder held data from an earlier run and this start kept it. */
  keptData: boolean;
  /** Wall time from spawn to first answered CQL query. */
  startupMs: number;
  /** Local JMX port, undefined when JMX is off. */
  jmxPort: number | undefined;
  paxosVariant: PaxosVariant;
}

export interface RunDirOptions {
  runDir?: string | undefined;
}

export interface StopOptions extends RunDirOptions {
  /** Grace period after SIGTERM before SIGKILL (default 15000 ms). */
  timeoutMs?: number | undefined;
}

export interface StopResult {
  wasRunning: boolean;
  pid?: number;
  /** True if SIGKILL was needed. */
  killed: boolean;
}

export interface StatusOptions extends RunDirOptions {
  /** Address to probe (default: the one recorded at start, else 127.0.0.1). */
  address?: string | undefined;
  /** CQL port to probe (default: the port recorded at start, else 9042). */
  port?: number | undefined;
  /** Bound for the CQL probe (default 5000 ms). */
  timeoutMs?: number | undefined;
}

export interface StatusResult {
  running: boolean;
  pid?: number;
  answering: boolean;
  address: string;
  port: number;
  runDir: string;
  /** <runDir>/data */
  dataDir: string;
  /** Bytes under the data folders (data, commitlog, saved_caches, hints, cdc_raw); 0 if none. */
  dataBytes: number;
}

interface NodeState {
  pid: number;
  /** Absent for a node started by a version of this file that only knew 127.0.0.1. */
  address?: string;
  port: number;
  storagePort: number;
  /** Absent for a node started without JMX (or by a version of this file that had it off). */
  jmxPort?: number;
  runDir: string;
  version: string;
  /** Absent for a node started by a version of this file that did not choose it (then v1). */
  paxosVariant?: PaxosVariant;
  startedAt: string;
}

// ---------------------------------------------------------------------------
// jars

interface CompleteMarker {
  pomSha256: string;
  jars: string[];
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function libIsComplete(libDir: string, pomHash: string): boolean {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(libDir, COMPLETE_MARKER), 'utf8')) as CompleteMarker;
    if (marker.pomSha256 !== pomHash || !Array.isArray(marker.jars) || marker.jars.length === 0) return false;
    return marker.jars.every((j) => fs.existsSync(path.join(libDir, j)));
  } catch {
    return false;
  }
}

function tail(text: string, lines: number): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
}

/**
 * Makes sure every runtime jar of cassandra-all (version from pom.xml) is in
 * the lib dir, running `mvn -B -q dependency:copy-dependencies` if the folder is
 * missing, incomplete or was made from another pom.xml. Returns the lib dir.
 * First run with an empty ~/.m2 downloads ~95 MB (about 45 s here).
 */
export async function resolveJars(opts: { libDir?: string | undefined } = {}): Promise<string> {
  const libDir = path.resolve(opts.libDir ?? DEFAULT_LIB_DIR);
  const pomHash = sha256(POM);
  if (libIsComplete(libDir, pomHash)) return libDir;

  const staging = `${libDir}.tmp-${process.pid}-${Date.now()}`;
  await fsp.rm(staging, { recursive: true, force: true });
  await fsp.mkdir(path.dirname(libDir), { recursive: true });
  const mvn = process.env.MVN ?? 'mvn';
  const args = ['-B', '-q', '-f', POM, 'dependency:copy-dependencies', `-Dcassandra.lib.dir=${staging}`];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    let out = '';
    const child = spawn(mvn, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', (err) => reject(new Error(`Cannot run Maven ("${mvn}"): ${err.message}. Install Maven 3.8+ (apt-get install maven) or set MVN.`)));
    child.on('close', (c) => resolve({ code: c, output: out }));
  });
  if (code !== 0) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw new Error(`Maven could not resolve org.apache.cassandra:cassandra-all:${CASSANDRA_VERSION} ` + `(mvn ${args.join(' ')} exited ${code}):\n${tail(output, 30)}`);
  }
  const jars = (await fsp.readdir(staging)).filter((f) => f.endsWith('.jar')).sort();
  if (!jars.includes(`cassandra-all-${CASSANDRA_VERSION}.jar`)) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw new Error(`Maven finished but cassandra-all-${CASSANDRA_VERSION}.jar is not in ${staging}`);
  }
  const marker: CompleteMarker = { pomSha256: pomHash, jars };
  await fsp.writeFile(path.join(staging, COMPLETE_MARKER), JSON.stringify(marker, null, 2));
  // Another process may have finished first: keep whichever complete folder exists.
  if (libIsComplete(libDir, pomHash)) {
    await fsp.rm(staging, { recursive: true, force: true });
    return libDir;
  }
  await fsp.rm(libDir, { recursive: true, force: true });
  try {
    await fsp.rename(staging, libDir);
  } catch (err) {
    await fsp.rm(staging, { recursive: true, force: true });
    if (!libIsComplete(libDir, pomHash)) throw err;
  }
  return libDir;
}

// ---------------------------------------------------------------------------
// java

/** The JDK's java: $JAVA_HOME/bin/java when it exists, else the one on the PATH. */
export function javaBinary(): string {
  const home = process.env.JAVA_HOME;
  if (home) {
    const candidate = path.join(home, 'bin', 'java');
    if (fs.existsSync(candidate)) return candidate;
  }
  return 'java';
}

/** Returns the Java feature version (17 for "17.0.15"), or throws a clear error. */
function javaMajorVersion(java: string): number {
  const r = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (r.error) throw new Error(`Cannot run "${java}": ${r.error.message}. Install OpenJDK 17 or set JAVA_HOME.`);
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr}${r.stdout}`);
  if (!m?.[1]) throw new Error(`Cannot parse the output of "${java} -version": ${r.stderr}`);
  const major = Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
  return major;
}

/**
 * Module access, verbatim from Cassandra's conf/jvm17-server.options: the node dies at startup without
 * it, and nodetool (nodetool.ts), which loads the same classes, needs it too.
 */
export const JDK17_MODULE_FLAGS: readonly string[] = [
  '-Djdk.attach.allowAttachSelf=true',
  '--add-exports',
  'java.base/jdk.internal.misc=ALL-UNNAMED',
  '--add-exports',
  'java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.registry=ALL-UNNAMED',
  '--add-exports',
  'java.rmi/sun.rmi.server=ALL-UNNAMED',
  '--add-exports',
  'java.sql/java.sql=ALL-UNNAMED',
  '--add-exports',
  'java.base/java.lang.ref=ALL-UNNAMED',
  '--add-exports',
  'jdk.unsupported/sun.misc=ALL-UNNAMED',
  '--add-exports',
  'jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED',
  '--add-exports',
  'jdk.attach/sun.tools.attach=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.loader=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.reflect=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.math=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.module=ALL-UNNAMED',
  '--add-opens',
  'java.base/jdk.internal.util.jar=ALL-UNNAMED',
  '--add-opens',
  'jdk.management/com.sun.management.internal=ALL-UNNAMED',
  '--add-opens',
  'java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.io=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang.reflect=ALL-UNNAMED',
  '--add-opens',
  'jdk.compiler/com.sun.tools.javac=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.lang=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.util=ALL-UNNAMED',
  '--add-opens',
  'java.base/java.nio=ALL-UNNAMED',
];

/** JVM flags for Cassandra 5.0 on JDK 17 (conf/jvm17-server.options + jvm-server.options subset). */
function jvmArgs(o: { runDir: string; jammJar: string | undefined; heapMb: number; jmxPort: number | undefined }): string[] {
  const { runDir, heapMb } = o;
  const tmp = path.join(runDir, 'tmp');
  const args = [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    '-Xss256k',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:ActiveProcessorCount=2',
    '-XX:+PerfDisableSharedMem',
    '-Djava.net.preferIPv4Stack=true',
    // module access (a missing java.io kills startup)
    ...JDK17_MODULE_FLAGS,
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dio.netty.allocator.useCacheForAllThreads=true',
    '-Dio.netty.allocator.maxOrder=11',
    // configuration, logs, natives: everything inside the run folder
    `-Dcassandra.config=${pathToFileURL(path.join(runDir, 'conf', 'cassandra.yaml')).href}`,
    `-Dlogback.configurationFile=${path.join(runDir, 'conf', 'logback.xml')}`,
    `-Dcassandra.logdir=${path.join(runDir, 'logs')}`,
    `-Dcassandra.storagedir=${runDir}`,
    `-Djava.io.tmpdir=${tmp}`,
    `-Djna.tmpdir=${tmp}`,
    '-Dcassandra.libjemalloc=-',
    `-Dcassandra.triggers_dir=${path.join(runDir, 'triggers')}`,
    '-Dcassandra-foreground=yes',
    // fast start of a local node (for a cluster, cluster.ts starts the nodes one after the other)
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=1000',
    // Not -Dcassandra.unsafesystem=true: it skips fsync of system tables, so a killed node
    // comes back without its schema, and the restart tests show acknowledged events survive.
  ];
  // object sizing agent (as bin/cassandra adds it); Cassandra falls back without it
  if (o.jammJar) args.push(`-javaagent:${o.jammJar}`);
  if (o.jmxPort !== undefined) {
    args.push(`-Dcassandra.jmx.local.port=${o.jmxPort}`, '-Djava.rmi.server.hostname=127.0.0.1');
  }
  return args;
}

// ---------------------------------------------------------------------------
// process helpers

/** True if pid is a live (non-zombie) process. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
}

/** True if pid is alive and is the Cassandra JVM of this run folder. */
function isOurCassandra(pid: number, runDir: string): boolean {
  if (!pidAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return true; // no /proc: cannot tell, assume the pid file is right
  }
  return cmdline.includes(MAIN_CLASS) && cmdline.includes(`-Dcassandra.storagedir=${runDir}\0`);
}

function readPid(runDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(runDir, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The JMX port the node of this run folder was started with, if it has one (nodetool.ts). */
export function recordedJmxPort(runDir: string = DEFAULT_RUN_DIR): number | undefined {
  return readState(path.resolve(runDir))?.jmxPort;
}

function readState(runDir: string): NodeState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, STATE_FILE), 'utf8')) as NodeState;
  } catch {
    return undefined;
  }
}

async function removePidFiles(runDir: string): Promise<void> {
  await fsp.rm(path.join(runDir, PID_FILE), { force: true });
  await fsp.rm(path.join(runDir, STATE_FILE), { force: true });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await sleep(100);
  }
  return !pidAlive(pid);
}

/** SIGTERM, then SIGKILL after graceMs. Returns true if SIGKILL was needed. */
async function terminate(pid: number, graceMs: number): Promise<boolean> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  if (await waitForExit(pid, graceMs)) return false;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  await waitForExit(pid, 5000);
  return true;
}

/** A port the kernel considers free on `host` (default 127.0.0.1) right now. */
export function freePort(host: string = DEFAULT_ADDRESS): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function portFree(port: number, host: string = DEFAULT_ADDRESS): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Bytes of the files under dir (0 if it does not exist); symlinks are not followed. */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(file);
    else if (entry.isFile()) total += (await fsp.stat(file).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Bytes of a run folder's data (the folders a start keeps). */
export async function dataBytes(runDir: string): Promise<number> {
  let total = 0;
  for (const d of DATA_DIRS) total += await folderBytes(path.join(runDir, d));
  return total;
}

function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The lines of the node's logs that explain a failed start. */
function failureLines(runDir: string): string {
  const stdout = readText(path.join(runDir, STDOUT_LOG));
  const system = readText(path.join(runDir, SYSTEM_LOG));
  const pick = (text: string): string[] => text.split('\n').filter((l) => /Exception|ERROR|Error:|Caused by|Could not|Unrecognized|Invalid/.test(l));
  const lines = [...new Set([...pick(stdout), ...pick(system)])].slice(0, 30);
  if (lines.length > 0) return lines.join('\n');
  // JDK 17 always prints four "WARNING: ... setSecurityManager" lines: not news.
  const stdoutRest = stdout
    .split('\n')
    .filter((l) => !l.startsWith('WARNING: '))
    .join('\n');
  return tail(system, 15) || tail(stdoutRest, 15) || '(the logs are empty)';
}

// ---------------------------------------------------------------------------
// public API

/**
 * True if a CQL query on system.local succeeds against contactPoints:port
 * within timeoutMs (cassandra-driver, localDataCenter 'datacenter1').
 */
export async function isAnswering(contactPoints: string[], port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  // Cheap pre-check: the driver takes longer to give up on a closed port.
  const open = await Promise.all(contactPoints.map((h) => tcpConnects(h.replace(/:\d+$/, ''), port, Math.max(100, timeoutMs))));
  if (!open.some(Boolean)) return false;
  const remaining = Math.max(500, deadline - Date.now());
  const client = new Client({
    contactPoints,
    localDataCenter: LOCAL_DC,
    protocolOptions: { port },
    isMetadataSyncEnabled: false,
    socketOptions: { connectTimeout: remaining, readTimeout: remaining },
  });
  let timer: NodeJS.Timeout | undefined;
  const query = (async (): Promise<boolean> => {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    return rs.rows.length === 1;
  })();
  // Shut the client down only once its connect() has settled, whatever the race below says: a
  // shutdown during connect() leaves a client that finishes connecting afterwards and keeps
  // reconnecting (and the process alive) forever.
  const settled = query.then(
    () => undefined,
    () => undefined,
  );
  const closed = settled.then(() => client.shutdown().catch(() => undefined));
  try {
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), remaining);
    });
    const answer = await Promise.race([query, timeout]).catch(() => false);
    if (answer) await closed;
    return answer;
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export interface YamlNode {
  runDir: string;
  port: number;
  storagePort: number;
  paxosVariant: PaxosVariant;
  /** Default 127.0.0.1. */
  address?: string | undefined;
  /** Default: this node, "<address>:<storagePort>". */
  seeds?: string[] | undefined;
  /** Default "0". */
  initialToken?: string | undefined;
  /** Default false. */
  hintedHandoff?: boolean | undefined;
}

const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const TOKEN = /^-?\d{1,19}$/;

/** A 127.x.y.z address, or throws: nothing but a loopback address reaches the yaml. */
export function checkLoopback(address: string): string {
  const m = LOOPBACK_V4.exec(address);
  if (!m || m.slice(1).some((octet) => Number(octet) > 255)) throw new Error(`address must be an IPv4 loopback address (127.x.y.z), got "${address}"`);
  return address;
}

/** cassandra.yaml from the template: the run folder, address, seeds, token, ports and the Paxos variant filled in. */
export function renderYaml(template: string, node: YamlNode): string {
  // Paths are inserted inside YAML double quotes; JSON escaping is valid there.
  const yamlRunDir = JSON.stringify(node.runDir).slice(1, -1);
  const address = checkLoopback(node.address ?? DEFAULT_ADDRESS);
  const seeds = node.seeds ?? [`${address}:${node.storagePort}`];
  for (const seed of seeds) checkLoopback(seed.replace(/:\d{1,5}$/, ''));
  const initialToken = node.initialToken ?? '0';
  if (!TOKEN.test(initialToken)) throw new Error(`initialToken must be a Murmur3 token (an integer), got "${initialToken}"`);
  return template
    .replaceAll('__RUN_DIR__', yamlRunDir)
    .replaceAll('__ADDRESS__', address)
    .replaceAll('__SEEDS__', seeds.join(','))
    .replaceAll('__INITIAL_TOKEN__', initialToken)
    .replaceAll('__HINTED_HANDOFF__', String(node.hintedHandoff ?? false))
    .replaceAll('__NATIVE_PORT__', String(node.port))
    .replaceAll('__STORAGE_PORT__', String(node.storagePort))
    .replaceAll('__PAXOS_VARIANT__', node.paxosVariant);
}

/**
 * Starts a single node (its earlier data kept unless `fresh`) as a detached JVM that outlives
 * the calling process, and resolves once CQL answers on address:port.
 * Rejects (after killing the JVM) with the relevant log lines if the JVM exits,
 * logs "Exception encountered during startup", or timeoutMs passes.
 */
export async function startCassandra(opts: StartOptions = {}): Promise<StartResult> {
  const runDir = path.resolve(opts.runDir ?? DEFAULT_RUN_DIR);
  const address = checkLoopback(opts.address ?? DEFAULT_ADDRESS);
  const port = opts.port ?? 9042;
  const storagePort = opts.storagePort ?? 7000;
  const fresh = opts.fresh ?? opts.keepData === false;
  const heapMb = opts.heapMb ?? 1024;
  const paxosVariant = opts.paxosVariant ?? DEFAULT_PAXOS_VARIANT;
  if (!PAXOS_VARIANTS.includes(paxosVariant)) throw new Error(`paxosVariant must be one of ${PAXOS_VARIANTS.join(', ')}, got "${String(paxosVariant)}"`);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;

  const existing = readPid(runDir);
  if (existing !== undefined && isOurCassandra(existing, runDir)) {
    throw new Error(`Cassandra is already running from ${runDir} (pid ${existing}); stop it first.`);
  }
  // A free port by default rather than Cassandra's 7199: two nodes (tests, hot and cold tiers) never collide.
  const jmxPort = opts.jmxPort === false ? undefined : (opts.jmxPort ?? (await freePort()));
  // JMX listens on 127.0.0.1 whatever the node's address (cassandra.jmx.local.port).
  for (const [name, p, host] of [
    ['native_transport_port', port, address],
    ['storage_port', storagePort, address],
    ...(jmxPort !== undefined ? [['jmx port', jmxPort, HOST] as const] : []),
  ] as const) {
    if (!(await portFree(p, host))) {
      throw new Error(`Port ${p} (${name}) on ${host} is already in use; stop whatever listens there or choose another port.`);
    }
  }

  const java = javaBinary();
  const javaMajor = javaMajorVersion(java);
  if (javaMajor !== 17 && javaMajor !== 11) {
    throw new Error(`Cassandra ${CASSANDRA_VERSION} needs JDK 17 (or 11); "${java}" is Java ${javaMajor}. Set JAVA_HOME to a JDK 17.`);
  }
  const libDir = await resolveJars();

  const yaml = renderYaml(await fsp.readFile(YAML_TEMPLATE, 'utf8'), {
    runDir,
    address,
    port,
    storagePort,
    paxosVariant,
    seeds: opts.seeds,
    initialToken: opts.initialToken,
    hintedHandoff: opts.hintedHandoff,
  });
  await removePidFiles(runDir);
  const keptData = !fresh && (await dataBytes(runDir)) > 0;
  for (const d of RUN_DIRS) {
    const dir = path.join(runDir, d);
    if (fresh || !DATA_DIRS.has(d)) await fsp.rm(dir, { recursive: true, force: true });
    await fsp.mkdir(dir, { recursive: true });
  }
  await fsp.writeFile(path.join(runDir, 'conf', 'cassandra.yaml'), yaml);
  await fsp.copyFile(LOGBACK, path.join(runDir, 'conf', 'logback.xml'));

  const jars = (await fsp.readdir(libDir)).filter((f) => f.endsWith('.jar')).sort();
  const jamm = jars.find((j) => /^jamm-[\d.]+\.jar$/.test(j));
  const classpath = [path.join(runDir, 'conf'), ...jars.map((j) => path.join(libDir, j))].join(path.delimiter);
  const args = [...jvmArgs({ runDir, jammJar: jamm && path.join(libDir, jamm), heapMb, jmxPort }), ...(opts.extraJvmArgs ?? []), '-cp', classpath, MAIN_CLASS];

  const stdoutPath = path.join(runDir, STDOUT_LOG);
  const out = fs.openSync(stdoutPath, 'a');
  const t0 = Date.now();
  let exitInfo: string | undefined;
  let child: ChildProcess;
  try {
    child = spawn(java, args, { cwd: runDir, detached: true, stdio: ['ignore', out, out] });
  } finally {
    fs.closeSync(out);
  }
  child.on('error', (err) => (exitInfo = `spawn error: ${err.message}`));
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error(`Could not spawn "${java}" for Cassandra.`);
  }
  child.on('exit', (code, signal) => (exitInfo = signal ? `killed by ${signal}` : `exit code ${code}`));
  child.unref();

  await fsp.writeFile(path.join(runDir, PID_FILE), `${pid}\n`);
  const state: NodeState = {
    pid,
    address,
    port,
    storagePort,
    ...(jmxPort !== undefined ? { jmxPort } : {}),
    runDir,
    version: CASSANDRA_VERSION,
    paxosVariant,
    startedAt: new Date(t0).toISOString(),
  };
  await fsp.writeFile(path.join(runDir, STATE_FILE), JSON.stringify(state, null, 2));

  const fail = async (reason: string): Promise<never> => {
    if (pidAlive(pid)) await terminate(pid, 5000);
    await removePidFiles(runDir);
    throw new Error(`Cassandra ${CASSANDRA_VERSION} failed to start on ${address}:${port}: ${reason}. ` + `Logs: ${path.join(runDir, 'logs')}.\n${failureLines(runDir)}`);
  };

  for (;;) {
    if (exitInfo !== undefined || !pidAlive(pid)) {
      return fail(`the JVM exited (${exitInfo ?? 'gone'}) during startup`);
    }
    if (readText(stdoutPath).includes('Exception encountered during startup')) {
      return fail('it logged "Exception encountered during startup"');
    }
    const left = deadline - Date.now();
    if (left <= 0) return fail(`it did not answer CQL within ${timeoutMs} ms`);
    if (await tcpConnects(address, port, Math.min(1000, left))) {
      if (await isAnswering([address], port, Math.min(5000, Math.max(500, deadline - Date.now())))) {
        const dataDir = path.join(runDir, 'data');
        return { pid, contactPoint: `${address}:${port}`, address, port, runDir, dataDir, keptData, startupMs: Date.now() - t0, jmxPort, paxosVariant };
      }
    }
    await sleep(250);
  }
}

/**
 * Stops the node of the run folder: SIGTERM, wait up to timeoutMs (default
 * 15 s), then SIGKILL; removes the pid file. No error if it is not running.
 */
export async function stopCassandra(opts: StopOptions = {}): Promise<StopResult> {
  const runDir = path.resolve(opts.runDir ?? DEFAULT_RUN_DIR);
  const pid = readPid(runDir);
  if (pid === undefined || !isOurCassandra(pid, runDir)) {
    await removePidFiles(runDir);
    return { wasRunning: false, killed: false };
  }
  const killed = await terminate(pid, opts.timeoutMs ?? 15_000);
  if (pidAlive(pid)) throw new Error(`Cassandra (pid ${pid}) is still alive after SIGKILL.`);
  await removePidFiles(runDir);
  return { wasRunning: true, pid, killed };
}

/**
 * running: the pid file's JVM is alive; answering: a CQL query succeeds on address:port (the ones
 * recorded at start, else 127.0.0.1:9042); where the data is and its size.
 */
export async function cassandraStatus(opts: StatusOptions = {}): Promise<StatusResult> {
  const runDir = path.resolve(opts.runDir ?? DEFAULT_RUN_DIR);
  const state = readState(runDir);
  const address = opts.address ?? state?.address ?? DEFAULT_ADDRESS;
  const port = opts.port ?? state?.port ?? 9042;
  const pid = readPid(runDir);
  const running = pid !== undefined && isOurCassandra(pid, runDir);
  const answering = await isAnswering([address], port, opts.timeoutMs ?? 5000);
  const data = { address, port, runDir, dataDir: path.join(runDir, 'data'), dataBytes: await dataBytes(runDir) };
  return running ? { running, pid, answering, ...data } : { running, answering, ...data };
}

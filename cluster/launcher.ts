/**
 * Starts N service nodes on loopback as one cluster over one Cassandra: the first bootstraps
 * the membership, the others join through it, then a rebalance gives everyone members. Used by
 * `npm run cluster` (cluster/launch.ts), the cluster tests and the rebalance benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { REPO_ROOT } from './cassandra/node.ts';
import { readConfigFile } from '../src/config/load.ts';
import type { ClusterDescription } from '../src/cluster/cluster-routes.ts';

export interface LaunchOptions {
  nodes: number;
  /** First port; node i listens on basePort + i - 1. 0 (default): free ports chosen by the OS. */
  basePort?: number;
  /** The config file the nodes start from (default config/cassandra.json). */
  configPath?: string;
  /** Deep-merged over the config's `service` section (e.g. cluster timings, actors.workers). */
  service?: Record<string, unknown>;
  /** Replaces the config's `rules` section. */
  rules?: unknown;
  clusterId?: string;
  adminToken?: string;
  /** Extra environment of every node (e.g. CASSANDRA_CONTACT_POINTS, LOG_LEVEL). */
  env?: Record<string, string>;
  /** Echo the nodes' logs to this process's stderr. */
  echo?: boolean;
  startTimeoutMs?: number;
}

export interface LaunchedNode {
  id: string;
  url: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export interface AdminAnswer {
  status: number;
  /** The admin API's JSON: ClusterDescription, ClusterChange, or an error body. */
  body: unknown;
}

export interface LaunchedCluster {
  nodes: LaunchedNode[];
  adminToken: string;
  clusterId: string;
  configPath: string;
  /** Starts one more node that joins (state joining until a rebalance). */
  addNode(id?: string): Promise<LaunchedNode>;
  /** Calls the admin API of `via` (default: the first node still running). */
  admin(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, via?: LaunchedNode): Promise<AdminAnswer>;
  /** SIGTERM every node (SIGKILL after a grace period); resolves when all have exited. */
  stop(): Promise<void>;
}

type Json = Record<string, unknown>;

function merge(base: Json, extra: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? merge(current as Json, value as Json)
        : value;
  }
  return out;
}

/** A port the OS just handed out (closed again at once; the node binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await request(`${url}/readyz`, { headersTimeout: 1000, bodyTimeout: 1000 });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

export async function launchCluster(options: LaunchOptions): Promise<LaunchedCluster> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 16) throw new Error('--nodes must be an integer from 1 to 16');
  const adminToken = options.adminToken ?? process.env['ADMIN_TOKEN'] ?? randomBytes(16).toString('hex');
  const clusterId = options.clusterId ?? `local-${randomBytes(4).toString('hex')}`;
  // Read as the service reads it: config/cassandra.json is an overlay on config/default.json.
  const base = readConfigFile(options.configPath ?? path.join(REPO_ROOT, 'config', 'cassandra.json')) as Json;
  const config = merge(base, {
    service: merge({ cluster: { clusterId, nodeId: 'from-the-command-line' }, rateLimit: null }, options.service ?? {}),
    ...(options.rules ? { rules: options.rules } : {}),
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'license-cluster-'));
  const configPath = path.join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  const nodes: LaunchedNode[] = [];
  let next = 1;
  const start = async (join: string | null, id = `node-${next}`): Promise<LaunchedNode> => {
    const port = options.basePort ? options.basePort + next - 1 : await freePort();
    const url = `http://127.0.0.1:${port}`;
    next += 1;
    const args = ['--import', 'tsx', 'src/main.ts', '--config', configPath, '--node-id', id, ...(join ? ['--join', join] : [])];
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      // Request logs only when echoed: a node under load logs every request at info.
      env: { ...process.env, LOG_LEVEL: options.echo ? 'info' : 'warn', ...options.env, ADMIN_TOKEN: adminToken, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.length > 2_000_000) output = output.slice(-1_000_000); // bounded
      if (options.echo) process.stderr.write(`[${id}] ${chunk.toString()}`);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    while (Date.now() < deadline) {
      // Ready means listening and joined: /readyz answers 200 only once the node follows the cluster.
      if (await isReady(url)) {
        const node: LaunchedNode = { id, url, child, output: () => output, exited };
        nodes.push(node);
        return node;
      }
      if (exitCode !== undefined) throw new Error(`node ${id} exited with ${exitCode}:\n${output.slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill('SIGKILL');
    throw new Error(`node ${id} did not become ready in time:\n${output.slice(-4000)}`);
  };

  const running = (): LaunchedNode[] => nodes.filter((node) => node.child.exitCode === null && node.child.signalCode === null);
  const admin = async (method: 'GET' | 'POST' | 'DELETE', adminPath: string, body?: unknown, via?: LaunchedNode): Promise<AdminAnswer> => {
    const target = via ?? running()[0];
    if (!target) throw new Error('no node is running');
    const response = await request(`${target.url}${adminPath}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : null };
  };

  const stop = async (): Promise<void> => {
    await Promise.all(
      nodes.map(async (node) => {
        if (node.child.exitCode !== null || node.child.signalCode !== null) return;
        node.child.kill('SIGCONT'); // a paused node cannot hear SIGTERM
        node.child.kill('SIGTERM');
        // A node leaves the cluster on SIGTERM (hands its members off, bounded at 10 s) before it exits.
        const timer = setTimeout(() => node.child.kill('SIGKILL'), 20_000);
        await node.exited;
        clearTimeout(timer);
      }),
    );
  };

  try {
    const first = await start(null);
    for (let i = 1; i < options.nodes; i++) await start(first.url);
    if (options.nodes > 1) {
      // A 503 says "retry later": on a freshly created keyspace of a three-node Cassandra the first
      // membership LWTs can time out while the replicas settle (seen with RF 3 on 2 cores).
      let answer = await admin('POST', '/v1/admin/cluster/rebalance');
      for (let retry = 1; answer.status === 503 && retry <= 5; retry++) {
        await new Promise((resolve) => setTimeout(resolve, 1000 * retry));
        answer = await admin('POST', '/v1/admin/cluster/rebalance');
      }
      if (answer.status !== 200) throw new Error(`rebalance answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      // Every node follows the new ring before the cluster is handed over (no request forwarded
      // by a node still on the old epoch).
      const deadline = Date.now() + 30_000;
      for (;;) {
        const cluster = (await admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
        if (cluster.nodes.every((n) => n.state === 'removed' || n.epoch === cluster.epoch)) break;
        if (Date.now() > deadline) throw new Error(`the nodes did not all follow epoch ${cluster.epoch} within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    adminToken,
    clusterId,
    configPath,
    addNode: (id) => {
      const seed = running()[0];
      if (!seed) throw new Error('no node is running to join through');
      return start(seed.url, id);
    },
    admin,
    stop,
  };
}

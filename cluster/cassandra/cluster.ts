/**
 * A local Cassandra cluster of several real nodes (node.ts each), one loopback address apiece
 * (127.0.0.1, .2, .3 by default, the same ports), one run folder each, every node a seed.
 *
 *   startCassandraCluster()   starts the nodes one after the other, then waits until every node
 *                             answers CQL, sees the others as peers and all agree on the schema
 *   stopCassandraCluster()    stops every node recorded in the cluster folder
 *   cassandraClusterStatus()  each node: running, answering, data folder and its size
 *   schemaAgreement()         each node's own schema version and peer count, asked of that node
 *
 * Every node is a seed, so none bootstraps (streams) at its first start: an empty cluster needs
 * no streaming, and Cassandra's rule of one bootstrapping node at a time (two minutes apart)
 * does not apply. The nodes still start one after the other: a node's first start creates the
 * system keyspaces, and the next one then takes the schema from it instead of racing it.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Client, policies } from 'cassandra-driver';
import {
  CASSANDRA_DIR,
  cassandraStatus,
  checkLoopback,
  DEFAULT_ADDRESS,
  startCassandra,
  stopCassandra,
  type PaxosVariant,
  type StartResult,
  type StatusResult,
  type StopResult,
} from './node.ts';

/** Default folder of a cluster: node1/, node2/, ... and cluster.json (git-ignored). */
export const DEFAULT_CLUSTER_DIR: string = path.join(CASSANDRA_DIR, '.run-cluster');
const CLUSTER_FILE = 'cluster.json';
const LOCAL_DC = 'datacenter1';

export interface ClusterStartOptions {
  /** Number of nodes (2 to 9; default 3). */
  nodes?: number | undefined;
  /** Folder holding node1/ ... (default cluster/cassandra/.run-cluster). */
  clusterDir?: string | undefined;
  /** Address of the first node; node i gets the i-th next one (default 127.0.0.1). */
  baseAddress?: string | undefined;
  /** CQL port of every node (default 9042). */
  port?: number | undefined;
  /** Internode port of every node (default 7000). */
  storagePort?: number | undefined;
  /** Heap of each node in MiB (default 1024; at most 1024 so three fit a small machine). */
  heapMb?: number | undefined;
  /** Wipe every node's data first (default false: a start keeps it). */
  fresh?: boolean | undefined;
  paxosVariant?: PaxosVariant | undefined;
  /** Bound of each node's start (default 180000 ms). */
  nodeTimeoutMs?: number | undefined;
  /** Bound of the wait for peers and schema agreement once all answer (default 60000 ms). */
  agreementTimeoutMs?: number | undefined;
  /** Progress lines (default: none). */
  log?: ((line: string) => void) | undefined;
}

export interface ClusterNode {
  name: string;
  address: string;
  port: number;
  runDir: string;
}

interface ClusterFile {
  nodes: ClusterNode[];
  startedAt: string;
}

export interface ClusterStartResult {
  nodes: StartResult[];
  /** "address:port" of every node, for CASSANDRA_CONTACT_POINTS. */
  contactPoints: string[];
  clusterDir: string;
  /** The one schema version all nodes agree on. */
  schemaVersion: string;
  /** Wall time of the whole start, agreement included. */
  startupMs: number;
}

/** The n-th loopback address after base (127.0.0.1 + 2 = 127.0.0.3), within 127.0.0.0/8. */
export function nthAddress(base: string, n: number): string {
  const octets = checkLoopback(base).split('.').map(Number);
  const value = ((octets[1] ?? 0) << 16) + ((octets[2] ?? 0) << 8) + (octets[3] ?? 0) + n;
  if (value < 1 || value > 0xfffffe) throw new Error(`no loopback address ${n} after ${base}`);
  return `127.${(value >> 16) & 255}.${(value >> 8) & 255}.${value & 255}`;
}

/**
 * Node i's token (Murmur3, one token per node): the ring split evenly, node 0 at 0 as the single
 * node has it. Keeps each node a third of the ring, so RF 3 still puts every row on all three.
 */
export function initialToken(i: number, nodes: number): string {
  const ring = 1n << 64n;
  let token = (BigInt(i) * ring) / BigInt(nodes);
  if (token >= 1n << 63n) token -= ring;
  return token.toString();
}

function nodesOf(opts: ClusterStartOptions): { clusterDir: string; nodes: ClusterNode[]; storagePort: number } {
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 2 || count > 9) throw new Error(`nodes must be an integer from 2 to 9, got ${count}`);
  const clusterDir = path.resolve(opts.clusterDir ?? DEFAULT_CLUSTER_DIR);
  const base = opts.baseAddress ?? DEFAULT_ADDRESS;
  const port = opts.port ?? 9042;
  const nodes = Array.from({ length: count }, (_, i) => ({ name: `node${i + 1}`, address: nthAddress(base, i), port, runDir: path.join(clusterDir, `node${i + 1}`) }));
  return { clusterDir, nodes, storagePort: opts.storagePort ?? 7000 };
}

function readClusterFile(clusterDir: string): ClusterFile | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(clusterDir, CLUSTER_FILE), 'utf8')) as ClusterFile;
    return Array.isArray(parsed.nodes) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The nodes recorded in a cluster folder (by the last start), or [] if there is none. */
export function clusterNodes(clusterDir: string = DEFAULT_CLUSTER_DIR): ClusterNode[] {
  return readClusterFile(path.resolve(clusterDir))?.nodes ?? [];
}

export interface NodeAgreement {
  address: string;
  /** The node's own schema version (system.local), undefined if it did not answer. */
  schemaVersion: string | undefined;
  /** Peers this node knows (system.peers_v2), with their schema versions. */
  peers: number;
  peerVersions: string[];
}

/** Asks each node itself (the driver pinned to it) for its schema version and its peers. */
export async function schemaAgreement(nodes: readonly { address: string; port: number }[], timeoutMs = 5000): Promise<NodeAgreement[]> {
  return Promise.all(
    nodes.map(async ({ address, port }): Promise<NodeAgreement> => {
      const client = new Client({
        contactPoints: [`${address}:${port}`],
        localDataCenter: LOCAL_DC,
        isMetadataSyncEnabled: false,
        policies: { loadBalancing: new policies.loadBalancing.WhiteListPolicy(new policies.loadBalancing.DCAwareRoundRobinPolicy(LOCAL_DC), [`${address}:${port}`]) },
        socketOptions: { connectTimeout: timeoutMs, readTimeout: timeoutMs },
      });
      try {
        await client.connect();
        const local = await client.execute('SELECT schema_version FROM system.local');
        const peers = await client.execute('SELECT peer, schema_version FROM system.peers_v2');
        return {
          address,
          schemaVersion: String(local.first()?.['schema_version'] ?? ''),
          peers: peers.rowLength,
          peerVersions: peers.rows.map((row) => String(row['schema_version'] ?? '')),
        };
      } catch {
        return { address, schemaVersion: undefined, peers: 0, peerVersions: [] };
      } finally {
        await client.shutdown().catch(() => undefined);
      }
    }),
  );
}

/** The one version every node and every peer entry reports, when each node sees all others. */
export function agreedVersion(answers: readonly NodeAgreement[]): string | undefined {
  const versions = new Set<string | undefined>();
  for (const a of answers) {
    if (a.peers !== answers.length - 1) return undefined;
    versions.add(a.schemaVersion);
    for (const v of a.peerVersions) versions.add(v);
  }
  const [only] = versions;
  return versions.size === 1 && only ? only : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the nodes one after the other (each waits until it answers CQL), then waits until all
 * agree on the schema. A node that fails stops the ones already started, and the error names it.
 */
export async function startCassandraCluster(opts: ClusterStartOptions = {}): Promise<ClusterStartResult> {
  const t0 = Date.now();
  const { clusterDir, nodes, storagePort } = nodesOf(opts);
  const heapMb = opts.heapMb ?? 1024;
  if (heapMb > 1024) throw new Error(`heapMb must be at most 1024 per node in a local cluster, got ${heapMb}`);
  const seeds = nodes.map((n) => `${n.address}:${storagePort}`);
  const log = opts.log ?? (() => undefined);

  await fsp.mkdir(clusterDir, { recursive: true });
  const file: ClusterFile = { nodes, startedAt: new Date(t0).toISOString() };
  await fsp.writeFile(path.join(clusterDir, CLUSTER_FILE), JSON.stringify(file, null, 2));

  const started: StartResult[] = [];
  try {
    for (const [i, node] of nodes.entries()) {
      const r = await startCassandra({
        runDir: node.runDir,
        address: node.address,
        port: node.port,
        storagePort,
        seeds,
        initialToken: initialToken(i, nodes.length),
        hintedHandoff: true,
        heapMb,
        fresh: opts.fresh,
        paxosVariant: opts.paxosVariant,
        timeoutMs: opts.nodeTimeoutMs ?? 180_000,
      });
      started.push(r);
      log(`${node.name} answers CQL on ${r.contactPoint} (pid ${r.pid}, ${(r.startupMs / 1000).toFixed(1)} s, ${r.keptData ? 'data kept' : 'no earlier data'} in ${r.dataDir})`);
    }
    const deadline = Date.now() + (opts.agreementTimeoutMs ?? 60_000);
    for (;;) {
      const answers = await schemaAgreement(nodes);
      const version = agreedVersion(answers);
      if (version) {
        log(`all ${nodes.length} nodes see each other and agree on schema version ${version}`);
        return { nodes: started, contactPoints: started.map((r) => r.contactPoint), clusterDir, schemaVersion: version, startupMs: Date.now() - t0 };
      }
      if (Date.now() > deadline) {
        const detail = answers.map((a) => `${a.address}: ${a.schemaVersion ?? 'no answer'}, ${a.peers} peer(s) [${a.peerVersions.join(', ')}]`).join('; ');
        throw new Error(`the ${nodes.length} nodes did not all see each other and agree on the schema within ${opts.agreementTimeoutMs ?? 60_000} ms: ${detail}`);
      }
      await sleep(500);
    }
  } catch (err) {
    await Promise.all(started.map((r) => stopCassandra({ runDir: r.runDir }).catch(() => undefined)));
    throw err;
  }
}

/** Stops every node recorded in the cluster folder (all at once: each drains on its own). */
export async function stopCassandraCluster(opts: { clusterDir?: string | undefined; timeoutMs?: number | undefined } = {}): Promise<(StopResult & { node: ClusterNode })[]> {
  const nodes = clusterNodes(opts.clusterDir ?? DEFAULT_CLUSTER_DIR);
  return Promise.all(nodes.map(async (node) => ({ node, ...(await stopCassandra({ runDir: node.runDir, timeoutMs: opts.timeoutMs })) })));
}

/** Status of every node recorded in the cluster folder. */
export async function cassandraClusterStatus(opts: { clusterDir?: string | undefined; timeoutMs?: number | undefined } = {}): Promise<(StatusResult & { node: ClusterNode })[]> {
  const nodes = clusterNodes(opts.clusterDir ?? DEFAULT_CLUSTER_DIR);
  return Promise.all(nodes.map(async (node) => ({ node, ...(await cassandraStatus({ runDir: node.runDir, address: node.address, port: node.port, timeoutMs: opts.timeoutMs })) })));
}

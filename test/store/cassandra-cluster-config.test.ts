/**
 * The local cluster's per-node settings (cluster/cassandra/cluster.ts, node.ts renderYaml), without
 * a JVM: consecutive loopback addresses, tokens that split the ring evenly, every node a seed in
 * its cassandra.yaml, the single node's yaml unchanged, and schema agreement only when each node
 * sees all the others on one version.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agreedVersion, initialToken, nthAddress } from '../../cluster/cassandra/cluster.ts';
import { CASSANDRA_DIR, renderYaml } from '../../cluster/cassandra/node.ts';

const template = readFileSync(join(CASSANDRA_DIR, 'cassandra.yaml'), 'utf8');

t.test('addresses follow the base address, within 127.0.0.0/8', async (t) => {
  t.same(
    [0, 1, 2].map((i) => nthAddress('127.0.0.1', i)),
    ['127.0.0.1', '127.0.0.2', '127.0.0.3'],
  );
  t.equal(nthAddress('127.0.0.255', 1), '127.0.1.0');
  t.throws(() => nthAddress('10.0.0.1', 0), /loopback/);
  t.throws(() => nthAddress('127.255.255.254', 1), /no loopback address/);
});

t.test('tokens split the Murmur3 ring evenly; node 1 keeps the single node 0', async (t) => {
  t.same(
    [0, 1, 2].map((i) => initialToken(i, 3)),
    ['0', '6148914691236517205', '-6148914691236517206'],
  );
  const tokens = [0, 1, 2].map((i) => BigInt(initialToken(i, 3)));
  for (const token of tokens) t.ok(token >= -(1n << 63n) && token < 1n << 63n, `${token} is a Murmur3 token`);
});

t.test('a cluster node listens on its address, seeds every node, keeps hints', async (t) => {
  const yaml = renderYaml(template, {
    runDir: '/tmp/n2',
    port: 19042,
    storagePort: 17000,
    paxosVariant: 'v1',
    address: '127.0.0.32',
    seeds: ['127.0.0.31:17000', '127.0.0.32:17000', '127.0.0.33:17000'],
    initialToken: initialToken(1, 3),
    hintedHandoff: true,
  });
  t.notMatch(yaml, /__[A-Z_]+__/, 'no placeholder left');
  t.match(yaml, /^listen_address: 127\.0\.0\.32$/m);
  t.match(yaml, /^rpc_address: 127\.0\.0\.32$/m);
  t.match(yaml, /- seeds: "127\.0\.0\.31:17000,127\.0\.0\.32:17000,127\.0\.0\.33:17000"$/m);
  t.match(yaml, /^initial_token: 6148914691236517205$/m);
  t.match(yaml, /^hinted_handoff_enabled: true$/m);
  t.throws(() => renderYaml(template, { runDir: '/tmp/x', port: 1, storagePort: 2, paxosVariant: 'v1', address: '0.0.0.0' }), /loopback/);
  t.throws(() => renderYaml(template, { runDir: '/tmp/x', port: 1, storagePort: 2, paxosVariant: 'v1', initialToken: '1; drop' }), /token/);
});

t.test('the single node renders as before: 127.0.0.1, itself as seed, token 0, no hints', async (t) => {
  const yaml = renderYaml(template, { runDir: '/tmp/one', port: 9042, storagePort: 7000, paxosVariant: 'v1' });
  t.match(yaml, /^listen_address: 127\.0\.0\.1$/m);
  t.match(yaml, /- seeds: "127\.0\.0\.1:7000"$/m);
  t.match(yaml, /^initial_token: 0$/m);
  t.match(yaml, /^hinted_handoff_enabled: false$/m);
});

t.test('agreement: every node sees the others, one version everywhere', async (t) => {
  const node = (address: string, version: string | undefined, peerVersions: string[]) => ({ address, schemaVersion: version, peers: peerVersions.length, peerVersions });
  t.equal(agreedVersion([node('a', 'v', ['v', 'v']), node('b', 'v', ['v', 'v']), node('c', 'v', ['v', 'v'])]), 'v');
  t.equal(agreedVersion([node('a', 'v', ['v', 'w']), node('b', 'v', ['v', 'w']), node('c', 'w', ['v', 'v'])]), undefined, 'two versions');
  t.equal(agreedVersion([node('a', 'v', ['v']), node('b', 'v', ['v']), node('c', 'v', ['v', 'v'])]), undefined, 'a node that misses a peer');
  t.equal(agreedVersion([node('a', 'v', []), node('b', 'v', []), node('c', 'v', [])]), undefined, 'three single-node clusters on one version');
  t.equal(agreedVersion([node('a', undefined, ['v', 'v']), node('b', 'v', ['v', 'v']), node('c', 'v', ['v', 'v'])]), undefined, 'a node that did not answer');
});

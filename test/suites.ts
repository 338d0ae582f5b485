/**
 * The suites that need more than Node, which `npm run test:unit` leaves out (and why).
 *
 * `npm test` runs every `*.test.ts` under test/ whatever this list says, so no suite can drop out of
 * it. `npm run test:unit` runs the others with Cassandra pointed at a closed port and no JDK on
 * the PATH, so a suite that needs either and is missing here fails there at once, naming what it
 * reached for; it cannot quietly use a local node. A name here that matches no file is an error.
 */
export const NOT_UNIT = new Map<string, string>([
  ['test/actors/concurrent-member.test.ts', 'Cassandra (the actor runtime on each store)'],
  ['test/actors/eviction.test.ts', 'Cassandra (the actor runtime on each store)'],
  ['test/actors/worker-crash.test.ts', 'Cassandra (the actor runtime on each store)'],
  ['test/admin/store-view.test.ts', 'Cassandra (the store view reads the driver of a real store)'],
  ['test/cluster/live-migration-nodes.test.ts', 'Cassandra (cluster nodes)'],
  ['test/cluster/live-migration.test.ts', 'Cassandra (two cluster nodes in one process over the store)'],
  ['test/cluster/node-failure.test.ts', 'Cassandra (cluster nodes)'],
  ['test/cluster/rebalance.test.ts', 'Cassandra (cluster nodes)'],
  ['test/cluster/stale-reader.test.ts', 'Cassandra (cluster nodes)'],
  ['test/cluster/stale-writer.test.ts', 'Cassandra (cluster nodes)'],
  ['test/conformance/schemathesis.test.ts', 'Python and PyPI (schemathesis fuzzes the service for about a minute)'],
  ['test/dashboard/browser.test.ts', 'Chromium and Cassandra (Debian’s chromium drives the dashboard of a single SQLite node and of a local cluster)'],
  ['test/faults/cassandra-outage.test.ts', 'a JDK (starts, kills and restarts a private Cassandra node)'],
  ['test/faults/cassandra-tiers-outage.test.ts', 'a JDK (starts, kills and restarts two private Cassandra nodes: the hot and the cold tier)'],
  ['test/faults/three-nodes-outage.test.ts', 'a JDK: a private three-node Cassandra, RF 3; one node killed under load, then two, then all three; about 4 minutes'],
  ['test/faults/three-nodes-partition.test.ts', 'a JDK; root and iptables (else SIGSTOP stands in): a private three-node Cassandra, a paused node, a cut node; about 4 minutes'],
  ['test/hostile/prototype-keys-cluster.test.ts', 'Cassandra (a cluster node)'],
  ['test/hostile/undecodable-member.test.ts', 'Cassandra (the repair on each store)'],
  ['test/store/cassandra-keep-data.test.ts', 'a JDK (starts, stops and restarts a private Cassandra node: a start keeps the data, --fresh wipes it; about 75 s)'],
  ['test/store/cassandra-migration.test.ts', 'Cassandra (the migration from the previous row layout)'],
  ['test/store/cassandra-snapshot-crash.test.ts', 'Cassandra'],
  ['test/store/cassandra-three-nodes.test.ts', 'a JDK (starts a private three-node Cassandra: RF 3, LOCAL_QUORUM, LOCAL_SERIAL; about 105 s)'],
  ['test/store/cassandra-tiers.test.ts', 'Cassandra (the two-tier store, its archiver and reads by purpose)'],
  ['test/store/cassandra-nodetool.test.ts', 'Cassandra and a JDK (nodetool talks JMX to the node)'],
  ['test/store/cassandra.test.ts', 'Cassandra (the store contract)'],
]);

/**
 * Suites that start a private three-node Cassandra (three JVMs) and fault it. `npm test` runs them
 * after all the others, one at a time: two of them at once, beside the rest, on a 2-core machine,
 * stretch each past its timeouts (measured: the outage suite took 326 s instead of 240 s with the
 * partition suite beside it). Every name here is also in NOT_UNIT.
 */
export const ONE_AT_A_TIME = new Set<string>(['test/faults/three-nodes-outage.test.ts', 'test/faults/three-nodes-partition.test.ts', 'test/store/cassandra-three-nodes.test.ts']);

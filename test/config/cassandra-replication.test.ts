/**
 * Keyspace replication over one or several data centers: the CQL map the schema renders, and the
 * config errors for what a schema cannot check (data centers without NetworkTopologyStrategy, no
 * replicas where the service counts its quorums), for the shared settings and for each tier.
 */
import t from 'tap';
import { parseConfig } from '../../src/config/load.ts';
import { replicationMap } from '../../src/store/cassandra/schema.ts';
import { testRules } from '../support/fixtures.ts';

function config(cassandra: Record<string, unknown>) {
  return parseConfig({ service: { store: 'cassandra', cassandra }, rules: testRules() }, null);
}

t.test('one data center: replicationFactor replicas in the local data center', async (t) => {
  const { cassandra } = config({ localDataCenter: 'eu-west', replication: { class: 'NetworkTopologyStrategy', replicationFactor: 3 } }).service;
  t.equal(replicationMap(cassandra), "{'class': 'NetworkTopologyStrategy', 'eu-west': 3}");
  t.equal(replicationMap(config({}).service.cassandra), "{'class': 'SimpleStrategy', 'replication_factor': 1}", 'the default: one local node');
});

t.test('several data centers: each named with its replicas, in the order written', async (t) => {
  const { cassandra } = config({
    localDataCenter: 'eu-west',
    replication: { class: 'NetworkTopologyStrategy', dataCenters: { 'eu-west': 3, 'us-east': 3, analytics: 0 } },
  }).service;
  t.equal(replicationMap(cassandra), "{'class': 'NetworkTopologyStrategy', 'eu-west': 3, 'us-east': 3, 'analytics': 0}");
});

t.test('a data center named like an Object.prototype property is a name like any other', async (t) => {
  // Written as JSON text: in an object literal `__proto__` would set the prototype, not a key.
  const { cassandra } = config(
    JSON.parse('{"localDataCenter": "__proto__", "replication": {"class": "NetworkTopologyStrategy", "dataCenters": {"__proto__": 2, "constructor": 1}}}') as Record<
      string,
      unknown
    >,
  ).service;
  t.equal(replicationMap(cassandra), "{'class': 'NetworkTopologyStrategy', '__proto__': 2, 'constructor': 1}");
  t.throws(
    () => config({ localDataCenter: 'toString', replication: { class: 'NetworkTopologyStrategy', dataCenters: { dc1: 3 } } }),
    {
      name: 'ConfigError',
      message: /no replicas to the local data center "toString"/,
    },
    'an inherited name holds no replicas',
  );
});

t.test('refused at load, naming the field', async (t) => {
  t.throws(() => config({ replication: { class: 'SimpleStrategy', dataCenters: { datacenter1: 3 } } }), {
    name: 'ConfigError',
    message: /^service\.cassandra\.replication\.dataCenters needs class "NetworkTopologyStrategy"/,
  });
  t.throws(() => config({ localDataCenter: 'eu-west', replication: { class: 'NetworkTopologyStrategy', dataCenters: { 'us-east': 3 } } }), {
    name: 'ConfigError',
    message: /^service\.cassandra\.replication\.dataCenters gives no replicas to the local data center "eu-west"/,
  });
  t.throws(
    () => config({ localDataCenter: 'eu-west', replication: { class: 'NetworkTopologyStrategy', dataCenters: { 'eu-west': 0, 'us-east': 3 } } }),
    {
      name: 'ConfigError',
      message: /no replicas to the local data center "eu-west"/,
    },
    'zero replicas locally is none',
  );
  t.throws(
    () => config({ localDataCenter: 'eu-west', replication: { class: 'NetworkTopologyStrategy', dataCenters: { 'eu-west': 3 } }, cold: { localDataCenter: 'archive' } }),
    { name: 'ConfigError', message: /^service\.cassandra\.cold\.replication\.dataCenters gives no replicas to the local data center "archive"/ },
    'a tier with its own data center is checked as the store merges it',
  );
  t.throws(
    () => config({ replication: { class: 'NetworkTopologyStrategy', dataCenters: { "dc'1": 3 } } }),
    { name: 'ConfigError', message: /dataCenters/ },
    'names follow the pattern',
  );
  t.throws(() => config({ replication: { class: 'NetworkTopologyStrategy', dataCenters: {} } }), { name: 'ConfigError' }, 'an empty map names no data center');
  t.throws(() => config({ replication: { class: 'NetworkTopologyStrategy', dataCenters: { datacenter1: 10 } } }), { name: 'ConfigError' }, 'at most 9 replicas per data center');
});

/**
 * The port the driver gives the hosts it discovers. system.peers carries no port, so the driver
 * used 9042 for every host but the contact point it first reached: on a cluster listening on
 * another port (the three-node test clusters, or any deployment off 9042) the service then sent
 * every request to that one node, and a fault of it stopped the service whatever the replication
 * (seen in test/faults/three-nodes-partition.test.ts, whose first scenario checks that all three
 * nodes serve requests).
 */
import t from 'tap';
import { discoveredHostsPort } from '../../src/store/cassandra/connect.ts';

t.test('contact points that share a port give it to the discovered hosts', async (t) => {
  t.same(discoveredHostsPort(['127.0.0.51:41209', '127.0.0.52:41209', '127.0.0.53:41209']), { protocolOptions: { port: 41209 } });
  t.same(discoveredHostsPort(['cassandra-1.example:19042']), { protocolOptions: { port: 19042 } });
  t.same(discoveredHostsPort(['[::1]:9142', '[::2]:9142']), { protocolOptions: { port: 9142 } });
});

t.test("otherwise the driver's default stays", async (t) => {
  t.same(discoveredHostsPort(['127.0.0.1', '127.0.0.2']), {}, 'no port named: 9042');
  t.same(discoveredHostsPort(['127.0.0.1:9042', '127.0.0.2:9142']), {}, 'ports differ: no single port to give');
  t.same(discoveredHostsPort(['127.0.0.1:9142', '127.0.0.2']), {}, 'one without a port: it means 9042');
  t.same(discoveredHostsPort(['::1']), {}, 'a bare IPv6 address names no port');
});

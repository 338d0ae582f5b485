/**
 * Which node nodetool talks to (cluster/cassandra/nodetool.ts, jmxPortOf): CASSANDRA_JMX_PORT names
 * the default node's port (CI exports the shared node's), and must never redirect a call for the
 * node of another run folder, such as a node of a private three-node cluster (a repair sent there
 * once reached the shared node and failed: "Keyspace ... does not exist").
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jmxPortOf } from '../../cluster/cassandra/nodetool.ts';

t.test('a run folder names its own node, whatever CASSANDRA_JMX_PORT says', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'nodetool-port-'));
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }));
  writeFileSync(join(runDir, 'node.json'), JSON.stringify({ jmxPort: 41234 }));
  const saved = process.env.CASSANDRA_JMX_PORT;
  t.teardown(() => {
    if (saved === undefined) delete process.env.CASSANDRA_JMX_PORT;
    else process.env.CASSANDRA_JMX_PORT = saved;
  });
  process.env.CASSANDRA_JMX_PORT = '43539';
  t.equal(await jmxPortOf({ runDir }), 41234, 'the port recorded in that run folder');
  t.equal(await jmxPortOf(), 43539, 'the default node: the environment');
  t.equal(await jmxPortOf({ runDir, jmxPort: 40001 }), 40001, 'an explicit port wins');
});

/**
 * The local test node's cassandra.yaml (cluster/cassandra/node.ts renderYaml): every placeholder
 * filled in, and the Paxos variant the launcher was asked for (issue 14: v1 and v2 side by side).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CASSANDRA_DIR, DEFAULT_PAXOS_VARIANT, PAXOS_VARIANTS, renderYaml } from '../../cluster/cassandra/node.ts';

const template = readFileSync(join(CASSANDRA_DIR, 'cassandra.yaml'), 'utf8');

t.test('the template renders with each Paxos variant and no placeholder left', async (t) => {
  for (const paxosVariant of PAXOS_VARIANTS) {
    const yaml = renderYaml(template, { runDir: '/tmp/run "dir"', port: 19042, storagePort: 17000, paxosVariant });
    t.notMatch(yaml, /__[A-Z_]+__/, `${paxosVariant}: no placeholder left`);
    t.equal(yaml.match(/^paxos_variant: .*$/gm)?.join(), `paxos_variant: ${paxosVariant}`, `${paxosVariant}: one paxos_variant line`);
    t.notMatch(yaml, /^paxos_state_purging:/m, 'paxos_state_purging stays at its default (legacy)');
    t.match(yaml, /^native_transport_port: 19042$/m);
    t.match(yaml, /"\/tmp\/run \\"dir\\"\/data"/, 'the run folder is escaped inside YAML double quotes');
  }
});

t.test('the default variant is one of the known ones', async (t) => {
  t.ok(PAXOS_VARIANTS.includes(DEFAULT_PAXOS_VARIANT));
});

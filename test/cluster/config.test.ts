/** Cluster flags and settings: checked at start, with messages that name the flag or setting. */
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

const CASSANDRA_CONFIG = 'config/cassandra.json';
const TOKEN = 'cluster-config-test-token';

t.test('--node-id turns cluster mode on with its defaults; --join and --advertise are taken', async (t) => {
  const config = loadConfig({
    argv: ['--config', CASSANDRA_CONFIG, '--node-id', 'n1', '--join', 'http://127.0.0.1:3001', '--advertise=http://127.0.0.1:3002'],
    env: { ADMIN_TOKEN: TOKEN },
  });
  t.match(config.service.cluster, { nodeId: 'n1', clusterId: 'default', join: 'http://127.0.0.1:3001', advertise: 'http://127.0.0.1:3002', moveConcurrency: 64 });
});

t.test('bad cluster flags and missing prerequisites are refused, naming what is wrong', async (t) => {
  const attempt =
    (argv: string[], env: Record<string, string> = { ADMIN_TOKEN: TOKEN }) =>
    () =>
      loadConfig({ argv, env });
  t.throws(
    attempt(['--config', CASSANDRA_CONFIG, '--node-id', 'bad id!']),
    new ConfigError("--node-id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-', got \"bad id!\""),
  );
  t.throws(attempt(['--config', CASSANDRA_CONFIG, '--node-id', 'n1', '--join', 'not-a-url']), { message: /--join must be a URL/ });
  t.throws(attempt(['--config', CASSANDRA_CONFIG, '--node-id']), { message: '--node-id needs a value' });
  t.throws(attempt(['--config', CASSANDRA_CONFIG, '--join', 'http://127.0.0.1:3001']), { message: /need cluster mode/ });
  t.throws(attempt(['--node-id', 'n1']), { message: /cluster mode needs service.store "cassandra"/ }, 'the default (SQLite) config cannot be a cluster');
  t.throws(attempt(['--config', CASSANDRA_CONFIG, '--node-id', 'n1'], {}), { message: /cluster mode needs an admin token/ });
});

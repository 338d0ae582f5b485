/** Cassandra unreachable at service start: a clear message naming the contact points and a non-zero exit. */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRules } from '../support/fixtures.ts';
import { runService } from '../support/process.ts';

t.test('the service refuses to start without its Cassandra', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'license-startup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'config.json');
  // Nothing listens on port 1 of loopback.
  writeFileSync(configPath, JSON.stringify({ service: { store: 'cassandra', cassandra: { contactPoints: ['127.0.0.1:1'], requestTimeoutMs: 1000 } }, rules: testRules() }));
  const run = runService(['--config', configPath], { PORT: '0', CASSANDRA_CONTACT_POINTS: '' });
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
  const code = await run.exited;
  clearTimeout(timer);
  t.not(code, 0, 'non-zero exit');
  t.not(code, null, 'it exited by itself');
  t.match(run.output(), /cannot reach Cassandra at 127\.0\.0\.1:1/);
  t.notMatch(run.output(), /\n\s+at /, 'no stack trace');
});

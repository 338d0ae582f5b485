import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configPathFrom, DEFAULT_CONFIG_PATH, loadConfig, parseConfig, readConfigFile } from '../../src/config/load.ts';
import { RulesSource, watchRulesFile } from '../../src/config/rules-source.ts';
import { testRules } from '../support/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'license-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

t.test('the shipped default config is valid and gives the documented defaults', async (t) => {
  const config = loadConfig({ argv: [], env: {} });
  t.equal(config.path, DEFAULT_CONFIG_PATH);
  t.equal(config.service.host, '127.0.0.1');
  t.equal(config.service.port, 3000);
  t.equal(config.service.store, 'sqlite');
  t.equal(config.service.clock, 'system');
  t.equal(config.rules.defaults.yearlyTitleLimit, 3);
  t.equal(config.rules.plans['premium']?.maxDownloadDevices, 4);
});

t.test('a file with only the documented rules keys is valid; service keys get defaults', async (t) => {
  const path = writeConfig('minimal.json', { rules: testRules() });
  const config = parseConfig(readConfigFile(path), path);
  t.same(config.service.snapshot, { eventCount: 200, replayMs: 50 });
  t.equal(config.service.store, 'sqlite');
  t.equal(config.service.sqlite.path, join(dir, '..', 'data', 'license-accounting.db'), 'relative store paths resolve against the config folder');
});

t.test('the config path comes from --config, then LICENSE_CONFIG, then the default', async (t) => {
  t.equal(configPathFrom({ argv: ['--config', '/x/a.json'], env: { LICENSE_CONFIG: '/y/b.json' } }), '/x/a.json');
  t.equal(configPathFrom({ argv: ['--config=/x/c.json'], env: {} }), '/x/c.json');
  t.equal(configPathFrom({ argv: [], env: { LICENSE_CONFIG: '/y/b.json' } }), '/y/b.json');
  t.equal(configPathFrom({ argv: [], env: {} }), DEFAULT_CONFIG_PATH);
  t.throws(() => configPathFrom({ argv: ['--config'], env: {} }), /--config needs a path/);
});

t.test('PORT and HOST in the environment override the file', async (t) => {
  const path = writeConfig('ports.json', { service: { port: 4000, host: '127.0.0.2' }, rules: testRules() });
  const config = loadConfig({ argv: ['--config', path], env: { PORT: '4100', HOST: '::1' } });
  t.equal(config.service.port, 4100);
  t.equal(config.service.host, '::1');
  t.throws(() => loadConfig({ argv: ['--config', path], env: { PORT: 'eighty' } }), /PORT must be an integer/);
});

t.test('a bad config file is refused with a message naming the key', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['syntax', '{"rules": {', /not valid JSON/],
    ['unknown key', { rules: { ...testRules(), maxActiveDownloadsPerDevise: 3 } }, /config\.rules\.maxActiveDownloadsPerDevise is not a known key/],
    ['negative limit', { rules: { ...testRules(), maxActiveDownloadsPerDevice: -1 } }, /config\.rules\.maxActiveDownloadsPerDevice must be >= 0/],
    ['negative studio limit', { rules: { ...testRules(), studios: { strict: { maxRenewals: -1 } }, titles: {} } }, /config\.rules\.studios\.strict\.maxRenewals must be >= 0/],
    ['missing rules key', { rules: { ...testRules(), plans: undefined } }, /config\.rules\.plans is required/],
    ['wrong service type', { service: { port: '3000' }, rules: testRules() }, /config\.service\.port must be integer/],
    ['unknown store', { service: { store: 'postgres' }, rules: testRules() }, /config\.service\.store must be equal to one of the allowed values/],
    ['default plan undefined', { rules: { ...testRules(), defaults: { ...testRules().defaults, plan: 'gold' } } }, /rules\.defaults\.plan names plan "gold"/],
    ['title of an undefined studio', { rules: { ...testRules(), titles: { x: { studio: 'nobody' } } } }, /rules\.titles\.x\.studio names studio "nobody"/],
  ];
  for (const [name, content, message] of cases) {
    const path = writeConfig(`bad-${name.replaceAll(' ', '-')}.json`, content);
    t.throws(() => loadConfig({ argv: ['--config', path], env: {} }), { name: 'ConfigError', message }, name);
  }
  t.throws(() => loadConfig({ argv: ['--config', join(dir, 'missing.json')], env: {} }), { message: /cannot read config file/ });
});

t.test('rules changes need a new version; unchanged rules are not a change', async (t) => {
  const source = new RulesSource(testRules());
  t.same(source.replace(testRules()), { outcome: 'unchanged' });
  const sameVersion = source.replace(testRules({ maxActiveDownloadsPerDevice: 9 }));
  t.equal(sameVersion.outcome, 'refused');
  t.equal(source.current().maxActiveDownloadsPerDevice, 5, 'the last good rules stay in force');
  t.same(source.replace(testRules({ version: 'test-2', maxActiveDownloadsPerDevice: 9 })), { outcome: 'applied', version: 'test-2' });
  t.equal(source.current().maxActiveDownloadsPerDevice, 9);
});

t.test('editing the file changes the rules in force within seconds; a bad edit keeps the last good rules', async (t) => {
  const path = writeConfig('watched.json', { rules: testRules() });
  const source = new RulesSource(testRules());
  const logged: string[] = [];
  const stop = watchRulesFile(path, source, 100, {
    info: (_o, message) => logged.push(`info:${message}`),
    error: (o, message) => logged.push(`error:${message}:${JSON.stringify(o)}`),
  });
  t.teardown(stop);
  const waitFor = async (predicate: () => boolean): Promise<boolean> => {
    for (let i = 0; i < 100; i++) {
      if (predicate()) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return predicate();
  };

  writeConfig('watched.json', { rules: testRules({ version: 'test-2', maxActiveDownloadsPerDevice: 7 }) });
  t.ok(await waitFor(() => source.current().version === 'test-2'), 'the new rules are in force');
  t.equal(source.current().maxActiveDownloadsPerDevice, 7);

  writeConfig('watched.json', { rules: { ...testRules({ version: 'test-3' }), maxActiveDownloadsPerDevice: -4 } });
  t.ok(await waitFor(() => logged.some((l) => l.startsWith('error:'))), 'the bad edit is logged');
  t.match(
    logged.find((l) => l.startsWith('error:')),
    /maxActiveDownloadsPerDevice must be >= 0/,
  );
  t.equal(source.current().version, 'test-2', 'the last good rules stay in force');

  writeConfig('watched.json', '{ not json');
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.equal(source.current().version, 'test-2');
});

t.test('a config file may extend another: objects merge key by key, other values replace', async (t) => {
  writeConfig('base.json', { service: { port: 4000, cassandra: { keyspace: 'base_ks', contactPoints: ['a:1', 'b:2'] } }, rules: testRules() });
  const overlay = writeConfig('overlay.json', { extends: 'base.json', service: { store: 'cassandra', cassandra: { contactPoints: ['c:3'] } } });
  const config = loadConfig({ argv: ['--config', overlay], env: {} });
  t.equal(config.service.store, 'cassandra', 'the overlay sets the store');
  t.equal(config.service.port, 4000, 'the base keeps the port');
  t.equal(config.service.cassandra.keyspace, 'base_ks', 'nested objects merge');
  t.same(config.service.cassandra.contactPoints, ['c:3'], 'an array replaces the base array whole');
  t.same(config.rules, parseConfig({ rules: testRules() }, null).rules, 'the rules come from the base');
  t.equal(config.path, overlay);

  writeConfig('loop-a.json', { extends: 'loop-b.json' });
  const loop = writeConfig('loop-b.json', { extends: 'loop-a.json' });
  t.throws(() => loadConfig({ argv: ['--config', loop], env: {} }), { name: 'ConfigError', message: /extends it back/ });
  const missing = writeConfig('orphan.json', { extends: 'nowhere.json' });
  t.throws(() => loadConfig({ argv: ['--config', missing], env: {} }), { name: 'ConfigError', message: /cannot read config file .*nowhere\.json/ });
  const bad = writeConfig('bad-extends.json', { extends: 3, rules: testRules() });
  t.throws(() => loadConfig({ argv: ['--config', bad], env: {} }), { name: 'ConfigError', message: /"extends" must be the path of another config file/ });
});

t.test('config/cassandra.json is config/default.json on the Cassandra store', async (t) => {
  const onCassandra = loadConfig({ argv: ['--config', 'config/cassandra.json'], env: {} });
  const byDefault = loadConfig({ argv: [], env: {} });
  t.equal(onCassandra.service.store, 'cassandra');
  t.same({ ...onCassandra.service, store: 'sqlite' }, byDefault.service, 'every other service key is the default');
  t.same(onCassandra.rules, byDefault.rules);
});

t.test('the rules watch sees an edit of a file the config extends', async (t) => {
  writeConfig('watched-base.json', { rules: testRules() });
  const path = writeConfig('watched-overlay.json', { extends: 'watched-base.json', service: { port: 4001 } });
  const source = new RulesSource(loadConfig({ argv: ['--config', path], env: {} }).rules);
  const stop = watchRulesFile(path, source, 100, { info: () => {}, error: () => {} });
  t.teardown(stop);
  writeConfig('watched-base.json', { rules: testRules({ version: 'base-2', maxActiveDownloadsPerDevice: 8 }) });
  for (let i = 0; i < 100 && source.current().version !== 'base-2'; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(source.current().version, 'base-2', 'the base file edit is in force');
  t.equal(source.current().maxActiveDownloadsPerDevice, 8);
});

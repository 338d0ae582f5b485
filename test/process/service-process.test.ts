/**
 * The service as a real process, the way `npm start` runs it: config from --config, a bad
 * config refused at start, rules edited while it runs, graceful SIGTERM, data kept across restarts.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testRules } from '../support/fixtures.ts';
import { runService, startService } from '../support/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'license-process-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const configPath = join(dir, 'config.json');
const writeConfig = (rules: unknown): void =>
  writeFileSync(configPath, JSON.stringify({ service: { sqlite: { path: './events.db' }, rulesReloadIntervalMs: 200 }, rules }, null, 2));

async function post(baseUrl: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

t.test('a bad config file stops the start with a message naming the key and a non-zero exit', async (t) => {
  const badPath = join(dir, 'bad.json');
  writeFileSync(badPath, JSON.stringify({ rules: { ...testRules(), maxActiveDownloadsPerDevice: -3 } }));
  const run = runService(['--config', badPath], { PORT: '0' });
  const code = await run.exited;
  t.equal(code, 2);
  t.match(run.output(), /rules\.maxActiveDownloadsPerDevice must be >= 0/);
  t.notMatch(run.output(), /\n\s+at /, 'no stack trace');
});

t.test('rules edited while running apply without a restart; SIGTERM drains; data survives a restart', async (t) => {
  writeConfig(testRules());
  const service = await startService(['--config', configPath]);
  t.teardown(() => service.child.kill('SIGKILL'));

  const ready = await fetch(`${service.baseUrl}/readyz`);
  t.equal(ready.status, 200);
  t.match(await ready.json(), { status: 'ready', store: 'sqlite', rulesVersion: 'test-1' });

  // Unknown titles get the default yearly limit: 3 with test-1.
  const first = await post(service.baseUrl, '/v1/members/m-proc/licenses', { deviceId: 'd1', titleId: 'film' });
  t.equal(first.status, 201);
  t.equal(first.body['rulesVersion'], 'test-1');
  await post(service.baseUrl, `/v1/members/m-proc/licenses/${String(first.body['licenseId'])}/release`, {});

  // Tighten the yearly limit to 1 in the file: the next acquire of the same title is refused under test-2.
  writeConfig(testRules({ version: 'test-2', defaults: { ...testRules().defaults, yearlyTitleLimit: 1 } }));
  let refused: { status: number; body: Record<string, unknown> } | undefined;
  for (let i = 0; i < 60 && refused === undefined; i++) {
    const check = await fetch(`${service.baseUrl}/v1/members/m-proc/check?deviceId=d1&titleId=film`);
    const body = (await check.json()) as Record<string, unknown>;
    if (body['rulesVersion'] === 'test-2') refused = { status: check.status, body };
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(refused, 'the new rules are in force within a few seconds');
  t.match(refused?.body, { allowed: false, reason: 'YEARLY_TITLE_LIMIT', rulesVersion: 'test-2' });
  const second = await post(service.baseUrl, '/v1/members/m-proc/licenses', { deviceId: 'd1', titleId: 'film' });
  t.equal(second.status, 409);
  t.match(second.body, { code: 'LICENSE_REFUSED', reason: 'YEARLY_TITLE_LIMIT', rulesVersion: 'test-2' });

  // A bad edit is refused and logged; test-2 stays in force.
  writeFileSync(configPath, '{"rules": ');
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.match(service.output(), /rules change refused/);
  const still = (await (await fetch(`${service.baseUrl}/v1/members/m-proc/check?deviceId=d1&titleId=film`)).json()) as Record<string, unknown>;
  t.equal(still['rulesVersion'], 'test-2');

  const acquired = await post(service.baseUrl, '/v1/members/m-proc/licenses', { deviceId: 'd1', titleId: 'other-film' });
  t.equal(acquired.status, 201);
  service.child.kill('SIGTERM');
  t.equal(await service.exited, 0, 'SIGTERM shuts down cleanly');

  writeConfig(testRules({ version: 'test-2', defaults: { ...testRules().defaults, yearlyTitleLimit: 1 } }));
  const restarted = await startService(['--config', configPath]);
  t.teardown(() => restarted.child.kill('SIGKILL'));
  const list = (await (await fetch(`${restarted.baseUrl}/v1/members/m-proc/licenses`)).json()) as { licenses: { licenseId: string }[] };
  t.same(
    list.licenses.map((l) => l.licenseId),
    [acquired.body['licenseId']],
    'the acknowledged license is still there',
  );
  restarted.child.kill('SIGTERM');
  t.equal(await restarted.exited, 0);
});

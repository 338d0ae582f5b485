/**
 * The operator's dashboard in a real browser (Debian's Chromium through playwright-core): on the
 * SQLite store and a single node as `npm start` runs it, then on a local two-node cluster over the
 * test Cassandra. The page must show what the API answers: the nodes, a rebalance that finishes,
 * a member's licenses, history, state at an instant and explain. The token must never appear in a
 * URL or a cookie, and a wrong token must bring the login back.
 */
import t, { type Test } from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../../cluster/cassandra/node.ts';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { ClusterDescription } from '../../src/cluster/cluster-routes.ts';
import { REPO_ROOT, startService } from '../support/process.ts';
import { movesSettled, startTestCluster } from '../cluster/cluster-support.ts';
import {
  attributes,
  call,
  debugEvents,
  launchBrowser,
  login,
  makeHistory,
  maybeUpdateReadmeImage,
  nodeRowIds,
  openPage,
  screenshot,
  waitForNodeRows,
  until,
  untilAttribute,
  type RecordedPage,
} from './browser-support.ts';

let browser: Browser | undefined;
t.before(async () => {
  browser = await launchBrowser();
});
t.teardown(async () => {
  await browser?.close();
});
const theBrowser = (): Browser => {
  if (!browser) throw new Error('the browser did not start');
  return browser;
};

const newMemberId = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

/** The token appears in no URL the page asked for, in no cookie and not in localStorage. */
async function tokenStaysOutOfUrls(t: Test, recorded: RecordedPage, token: string): Promise<void> {
  t.ok(recorded.requests.length > 3, `the page made requests (${recorded.requests.length})`);
  const leaking = recorded.requests.filter((r) => r.url.includes(token) || decodeURIComponent(r.url).includes(token));
  t.same(leaking, [], 'no request carries the token in its URL');
  const cookies = await recorded.context.cookies();
  t.same(
    cookies.filter((c) => c.value.includes(token) || decodeURIComponent(c.value).includes(token)),
    [],
    'no cookie holds the token',
  );
  const local = String(await recorded.page.evaluate('JSON.stringify(Object.entries(window.localStorage))'));
  t.notOk(local.includes(token), 'localStorage does not hold the token');
  t.same(recorded.pageErrors, [], 'no uncaught error and no dialog in the page');
}

/** Opens a member in the inspector and waits until its licenses and its first page of history are shown. */
async function openMember(page: Page, memberId: string): Promise<void> {
  await page.getByTestId('nav-member').click();
  await page.getByTestId('member-id').fill(memberId);
  await page.getByTestId('member-open').click();
  await until(`member ${memberId} shown`, async () => {
    const shownId = await page.getByTestId('member-now').getAttribute('data-member-id', { timeout: 1000 });
    const count = await page.getByTestId('member-event-count').getAttribute('data-count', { timeout: 1000 });
    return shownId === memberId && count !== null && (await page.getByTestId('member-licenses').count()) === 1;
  });
}

async function shownLicenseIds(page: Page): Promise<string[]> {
  const ids = await attributes(page.locator('[data-testid="member-licenses"] tbody tr'), 'data-license-id');
  return ids.sort();
}

/**
 * The member inspector against the API: licenses now, the event count, the state at the slider's
 * second instant and explain there, each equal to what the API answers.
 */
async function inspectMember(t: Test, recorded: RecordedPage, baseUrl: string, token: string, memberId: string): Promise<void> {
  const { page } = recorded;
  await openMember(page, memberId);
  const licenses = await call(baseUrl, 'GET', `/v1/members/${memberId}/licenses`);
  const apiIds = (licenses.body as { licenses: { licenseId: string }[] }).licenses.map((l) => l.licenseId).sort();
  t.same(await shownLicenseIds(page), apiIds, 'the licenses shown are the ones the API lists');
  t.equal(await page.getByTestId('member-origin').getAttribute('data-origin'), 'memory', 'marked as the owner’s in-memory view');
  const historyReads = recorded.requests.filter((r) => new URL(r.url).pathname === `/v1/debug/members/${memberId}/events`);
  t.ok(historyReads.length > 0 && historyReads.every((r) => r.accept.includes('application/x-ndjson')), 'the history is read as the NDJSON stream');

  const events = await debugEvents(baseUrl, token, memberId);
  const count = page.getByTestId('member-event-count');
  t.equal(await count.getAttribute('data-complete'), 'true', 'the whole (short) history is loaded');
  t.equal(Number(await count.getAttribute('data-count')), events.length, `the timeline counts the API's ${events.length} events`);
  t.equal(await page.locator('[data-testid="member-timeline"] li').count(), events.length, 'one timeline entry per event');

  // The slider's steps are the distinct instants of the history (events at one instant are one
  // step: the state at an instant folds them all). Moved with the keyboard, as a person would, to
  // the second one.
  const instants = [...new Set(events.map((e) => e.at))].sort();
  const slider = page.getByTestId('member-slider');
  t.equal(await slider.getAttribute('max'), String(instants.length - 1), `one slider step per instant (${instants.length})`);
  t.equal(await page.getByTestId('member-chart').getAttribute('data-points'), String(instants.length), 'the chart along the slider has a point per instant');
  t.equal(await page.locator('[data-testid="member-chart"] canvas').count(), 1, 'drawn by uPlot');
  await slider.focus();
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  const at = instants[1] ?? '';
  const stateOut = page.getByTestId('member-state-at');
  await untilAttribute(page, 'member-state-at', 'data-at', at);
  await untilAttribute(page, 'member-state-at', 'data-state', 'ready');
  const state = await call(baseUrl, 'GET', `/v1/debug/members/${memberId}/state?at=${encodeURIComponent(at)}`, { token });
  const stateBody = state.body as { eventsApplied: number; licenses: { licenseId: string; releasedAt: string | null }[] };
  t.equal(Number(await stateOut.getAttribute('data-events-applied')), stateBody.eventsApplied, 'events applied at the instant, as the API says');
  const activeThen = stateBody.licenses
    .filter((l) => l.releasedAt === null)
    .map((l) => l.licenseId)
    .sort();
  const shownThen = (await attributes(page.locator('[data-testid="member-state-licenses"] tbody tr'), 'data-license-id')).sort();
  t.same(shownThen, activeThen, 'the licenses active at the instant, as the API says');
  t.not(shownThen.join(), apiIds.join(), 'the instant shows another state than now (the history changed it since)');

  // Explain an acquire at that instant.
  await page.getByTestId('explain-device').fill('d1');
  await page.getByTestId('explain-title').fill('t1');
  await page.getByTestId('explain-run').click();
  await untilAttribute(page, 'explain-result', 'data-state', 'ready');
  const explain = await call(baseUrl, 'GET', `/v1/debug/members/${memberId}/explain?deviceId=d1&titleId=t1&at=${encodeURIComponent(at)}`, { token });
  const explained = explain.body as { allowed: boolean; reason?: string; limits: Record<string, unknown>; counting: Record<string, unknown[]> };
  const result = page.getByTestId('explain-result');
  t.equal(await result.getAttribute('data-allowed'), String(explained.allowed), 'allowed or not, as the API says');
  t.equal(await result.getAttribute('data-reason'), explained.reason ?? '', 'the same reason');
  const shownLimits: string[][] = [];
  for (const row of await page.locator('[data-testid="explain-limits"] tbody tr').all()) {
    shownLimits.push([
      (await row.getAttribute('data-limit')) ?? '',
      (await row.locator('.limit').textContent()) ?? '',
      (await row.locator('.counted').getAttribute('data-count')) ?? '',
    ]);
  }
  const apiLimits = Object.entries(explained.limits).map(([name, limit]) => [
    name,
    limit === null ? '' : typeof limit === 'object' ? JSON.stringify(limit) : String(limit as string | number),
    Array.isArray(explained.counting[name]) ? String(explained.counting[name].length) : '',
  ]);
  t.same(shownLimits, apiLimits, 'every limit, its value and how many things count toward it, as the API says');
}

/**
 * A history longer than a page: the timeline shows the first page, reads the stream no further,
 * and "load more" brings the rest, until the count is the API's.
 */
async function longHistory(t: Test, page: Page, baseUrl: string, token: string): Promise<void> {
  const memberId = `long-${randomUUID().slice(0, 8)}`;
  // 51 acquires of distinct titles on one device (two events each, and the device's
  // registration): 103 events. Sent 17 at a time (the member's mailbox takes 64).
  for (let batch = 0; batch < 3; batch++) {
    const answers = await Promise.all(
      Array.from({ length: 17 }, (_, i) => call(baseUrl, 'POST', `/v1/members/${memberId}/licenses`, { body: { deviceId: 'd1', titleId: `title-${batch * 17 + i}` } })),
    );
    const refused = answers.filter((a) => a.status !== 201);
    if (refused.length > 0) throw new Error(`acquires answered ${refused.map((a) => a.status).join(', ')}`);
  }
  const events = await debugEvents(baseUrl, token, memberId);
  await openMember(page, memberId);
  const pageSize = Number(await page.getByTestId('member-load-more').getAttribute('data-page-size'));
  t.ok(events.length > pageSize, `the history (${events.length} events) is longer than a page (${pageSize})`);
  const count = page.getByTestId('member-event-count');
  t.equal(await count.getAttribute('data-count'), String(pageSize), 'one page is shown first');
  t.equal(await count.getAttribute('data-complete'), 'false', 'and the page says there is more');
  await page.getByTestId('member-load-more').click();
  await untilAttribute(page, 'member-event-count', 'data-complete', 'true');
  t.equal(Number(await count.getAttribute('data-count')), events.length, 'load more brings the rest: the API’s count');
  t.equal(await page.locator('[data-testid="member-timeline"] li').count(), events.length, 'one timeline entry per event');
  t.same(
    await attributes(page.locator('[data-testid="member-timeline"] li'), 'data-position'),
    events.map((e) => String(e.position)),
    'in the API’s order',
  );
  t.notOk(await page.getByTestId('member-load-more').isVisible(), 'no more to load');
}

/** A hostile member id is shown as text: no element, no script, no dialog. */
async function hostileIds(t: Test, page: Page): Promise<void> {
  for (const hostile of ['__proto__', '<img src=x onerror=alert(1)>']) {
    await page.getByTestId('member-id').fill(hostile);
    await page.getByTestId('member-open').click();
    await until(`member ${hostile} shown`, async () => (await page.getByTestId('member-now').getAttribute('data-member-id', { timeout: 1000 })) === hostile);
    // Either an answer (for a valid id) or the service's refusal, as text.
    await until('the member’s answer', async () => !((await page.getByTestId('member-now').textContent({ timeout: 1000 })) ?? 'loading').includes('loading'));
    t.equal(await page.locator('[data-testid="member-now"] img, [data-testid="member-now"] script').count(), 0, `${JSON.stringify(hostile)} made no element`);
    t.ok(((await page.getByTestId('member-now').textContent()) ?? '').includes(hostile), `${JSON.stringify(hostile)} is shown as text`);
  }
  t.equal(await page.evaluate('Object.prototype.hasOwnProperty.call(Object.prototype, "licenses")'), false, 'Object.prototype untouched');
}

/**
 * The token is in this tab's sessionStorage; once it stops being accepted (rotated, say), the
 * next call answers 401 and the page shows the login again, with the views hidden.
 */
async function tokenRefusedMidSession(t: Test, page: Page, token: string): Promise<void> {
  const wrong = randomBytes(16).toString('hex');
  const replaced = await page.evaluate(
    `(() => { let n = 0; for (const key of Object.keys(sessionStorage)) if (sessionStorage.getItem(key) === ${JSON.stringify(token)}) { sessionStorage.setItem(key, ${JSON.stringify(wrong)}); n += 1; } return n; })()`,
  );
  t.equal(replaced, 1, 'the token was in sessionStorage');
  await page.getByTestId('nav-cluster').click();
  await page.getByTestId('login-token').waitFor({ state: 'visible' });
  t.notOk(await page.getByTestId('nav-cluster').isVisible(), 'the views are gone with the token');
}

/** A wrong token: the service answers 401 and the page shows the login again. */
async function wrongToken(t: Test, baseUrl: string): Promise<void> {
  const recorded = await openPage(theBrowser());
  try {
    const wrong = randomBytes(16).toString('hex');
    await login(recorded.page, baseUrl, wrong);
    await until('a 401 answer', async () => recorded.responses.some((r) => r.status === 401));
    await recorded.page.getByTestId('login-token').waitFor({ state: 'visible' });
    t.pass('the login form is shown again after a 401');
    t.equal(await recorded.page.getByTestId('node-row').count(), 0, 'no node is shown');
    t.same(
      recorded.requests.filter((r) => r.url.includes(wrong)),
      [],
      'the wrong token is in no URL either',
    );
  } finally {
    await recorded.context.close();
  }
}

t.test('single node on SQLite (npm start’s default config): login, the one node, a member', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'license-dashboard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = path.join(dir, 'config.json');
  // config/default.json as npm start reads it; only the database file moves out of the checkout.
  writeFileSync(configPath, JSON.stringify({ extends: path.join(REPO_ROOT, 'config', 'default.json'), service: { sqlite: { path: './events.db' } } }));
  const token = randomBytes(16).toString('hex');
  const service = await startService(['--config', configPath], { ADMIN_TOKEN: token }, 30_000);
  t.teardown(async () => {
    service.child.kill('SIGTERM');
    const timer = setTimeout(() => service.child.kill('SIGKILL'), 10_000);
    await service.exited;
    clearTimeout(timer);
  });
  const memberId = newMemberId('solo');
  await makeHistory(service.baseUrl, memberId);

  const recorded = await openPage(theBrowser());
  t.teardown(() => recorded.context.close());
  const { page } = recorded;
  await login(page, service.baseUrl, token);
  await waitForNodeRows(page, 1);
  t.equal((await nodeRowIds(page)).length, 1, 'one node is shown');
  await screenshot(page, 'single-node-cluster');
  await inspectMember(t, recorded, service.baseUrl, token, memberId);
  await screenshot(page, 'single-node-member');
  await longHistory(t, page, service.baseUrl, token);
  await hostileIds(t, page);
  await page.getByTestId('nav-store').click();
  await page.getByTestId('store-hosts').waitFor({ state: 'visible' });
  await screenshot(page, 'single-node-store');
  await tokenStaysOutOfUrls(t, recorded, token);
  await tokenRefusedMidSession(t, page, token);
  await wrongToken(t, service.baseUrl);
});

t.test('with an admin port the page is there, and the member view says it shows the stored events, not memory', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'license-dashboard-admin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const adminPort = await freePort();
  const configPath = path.join(dir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({ extends: path.join(REPO_ROOT, 'config', 'default.json'), service: { sqlite: { path: './events.db' }, actors: { workers: 1 }, admin: { port: adminPort } } }),
  );
  const token = randomBytes(16).toString('hex');
  const service = await startService(['--config', configPath], { ADMIN_TOKEN: token }, 30_000);
  t.teardown(async () => {
    service.child.kill('SIGTERM');
    const timer = setTimeout(() => service.child.kill('SIGKILL'), 10_000);
    await service.exited;
    clearTimeout(timer);
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await until('the admin port', async () => (await fetch(`${adminUrl}/dashboard/`)).status === 200);
  const { memberId, held } = await makeHistory(service.baseUrl, newMemberId('admin'));

  const recorded = await openPage(theBrowser());
  t.teardown(() => recorded.context.close());
  const { page } = recorded;
  await login(page, adminUrl, token);
  await waitForNodeRows(page, 1);
  await openMember(page, memberId);
  t.equal(await page.getByTestId('member-origin').getAttribute('data-origin'), 'events', 'marked as rebuilt from the events (no edge route on this port)');
  t.same(await shownLicenseIds(page), [...held].sort(), 'the licenses held now, from the events');
  await screenshot(page, 'admin-port-member');
  await tokenStaysOutOfUrls(t, recorded, token);
});

t.test('two-node cluster on Cassandra: nodes, a rebalance to a third node, a member, the store', async (t) => {
  const started = Date.now();
  const cluster = await startTestCluster(2);
  t.comment(`two nodes ready in ${Date.now() - started} ms`);
  t.teardown(async () => {
    await cluster.stop();
    // The launcher's folder holds only the nodes' config file.
    rmSync(path.dirname(cluster.configPath), { recursive: true, force: true });
  });
  const [first] = cluster.nodes;
  if (!first) throw new Error('no node');
  const token = cluster.adminToken;

  // Members in memory on both nodes, so the rebalance has members to move; one with a known history.
  const memberId = newMemberId('dash');
  await makeHistory(first.url, memberId);
  const others = Array.from({ length: 24 }, (_, i) => `dash-${randomUUID().slice(0, 6)}-${i}`);
  for (let i = 0; i < others.length; i += 8) {
    await Promise.all(
      others.slice(i, i + 8).map((other) => call(first.url, 'POST', `/v1/members/${other}/licenses`, { body: { deviceId: 'd1', titleId: 't1', requestId: `${other}-a` } })),
    );
  }

  const recorded = await openPage(theBrowser());
  t.teardown(() => recorded.context.close());
  const { page } = recorded;
  await login(page, first.url, token);
  await waitForNodeRows(page, 2);
  t.same((await nodeRowIds(page)).sort(), cluster.nodes.map((n) => n.id).sort(), 'both nodes are shown');
  await screenshot(page, 'cluster');

  // A third node joins; the page shows it without a reload, then rebalances to it.
  const third = await cluster.addNode('node-3');
  t.comment(`third node ready at ${Date.now() - started} ms`);
  await waitForNodeRows(page, 3, 30_000);
  const before = (await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
  await page.getByTestId('rebalance-preview').click();
  await page.getByTestId('rebalance-confirm').click();
  await page.locator('[data-testid="rebalance-progress"][data-state="done"]').waitFor({ state: 'attached', timeout: 60_000 });
  const after = (await cluster.admin('GET', '/v1/admin/cluster')).body as ClusterDescription;
  t.ok(after.epoch > before.epoch, `the rebalance the page started changed the ring (epoch ${before.epoch} → ${after.epoch})`);
  t.ok(await movesSettled(cluster), 'when the page says done, the API says every node finished its moves');
  const moved = after.nodes.reduce((sum, n) => sum + (n.moves && n.moves.epoch === after.epoch ? n.moves.released : 0), 0);
  t.ok(moved > 0, `the rebalance moved members (${moved})`);
  const added = after.nodes.find((n) => n.id === third.id);
  t.equal(added?.state, 'active', 'the third node is in the ring');
  // The README's picture: three nodes after the rebalance the page ran.
  maybeUpdateReadmeImage(await screenshot(page, 'cluster-rebalanced'));

  t.comment(`rebalance done at ${Date.now() - started} ms`);
  await inspectMember(t, recorded, first.url, token, memberId);
  await screenshot(page, 'member');

  await page.getByTestId('nav-store').click();
  const hosts = page.getByTestId('store-hosts');
  await hosts.waitFor({ state: 'visible' });
  const store = (await cluster.admin('GET', '/v1/admin/store')).body as { hosts: { address: string }[] };
  const shown = (await hosts.textContent()) ?? '';
  for (const host of store.hosts) t.ok(shown.includes(host.address), `the store view names host ${host.address}`);
  await screenshot(page, 'store');

  await tokenStaysOutOfUrls(t, recorded, token);
  await wrongToken(t, first.url);
});

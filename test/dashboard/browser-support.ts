/**
 * The dashboard's browser tests: Debian's Chromium driven by playwright-core (no browser is ever
 * downloaded), every request the page makes recorded, screenshots under .tap/ (gitignored), and
 * small helpers that ask the service's API the same questions the page asks.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { REPO_ROOT } from '../support/process.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** Where the screenshots go: under the test output folder, which git ignores. */
export const SCREENSHOTS = path.join(REPO_ROOT, '.tap', 'dashboard-screenshots');
/** The README's picture; rewritten only when asked (UPDATE_DASHBOARD_IMAGE=1), so a test run leaves the tree clean. */
export const README_IMAGE = path.join(REPO_ROOT, 'docs', 'images', 'dashboard-cluster.png');
/** Every wait in the page is bounded by this unless it says otherwise. */
export const WAIT_MS = 20_000;

export function launchBrowser(): Promise<Browser> {
  // Never skipped: a machine without the browser fails here, saying how to get it.
  if (!existsSync(CHROMIUM)) throw new Error(`Debian's Chromium is missing at ${CHROMIUM}: apt-get install -y chromium (.ci/run does it when missing)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    // This machine's network is closed: without the background-networking flags Chromium floods
    // refused connections.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
}

export interface RecordedPage {
  context: BrowserContext;
  page: Page;
  /** Every request the page made: method, full URL and what it accepts. */
  requests: { method: string; url: string; accept: string }[];
  /** Every answer the page got: URL and status. */
  responses: { url: string; status: number }[];
  /** Uncaught errors in the page's scripts. */
  pageErrors: string[];
}

export async function openPage(browser: Browser): Promise<RecordedPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const recorded: RecordedPage = { context, page, requests: [], responses: [], pageErrors: [] };
  page.on('request', (request) => recorded.requests.push({ method: request.method(), url: request.url(), accept: request.headers()['accept'] ?? '' }));
  page.on('response', (response) => recorded.responses.push({ url: response.url(), status: response.status() }));
  page.on('pageerror', (error) => recorded.pageErrors.push(error.message));
  // A dialog would mean a hostile string ran as script: fail loudly, never wait on it.
  page.on('dialog', (dialog) => {
    recorded.pageErrors.push(`unexpected dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return recorded;
}

/** Opens /dashboard/ and signs in with `token` through the login form. */
export async function login(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard/`);
  await page.getByTestId('login-token').fill(token);
  await page.getByTestId('login-submit').click();
}

/** The value of `attribute` on every element `locator` matches, in page order. */
export async function attributes(locator: Locator, attribute: string): Promise<string[]> {
  const values: string[] = [];
  for (const element of await locator.all()) values.push((await element.getAttribute(attribute)) ?? '');
  return values;
}

export async function nodeRowIds(page: Page): Promise<string[]> {
  return attributes(page.getByTestId('node-row'), 'data-node-id');
}

/** Polls `check` until it holds (bounded); the page's own state is read through locators. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function waitForNodeRows(page: Page, count: number, timeoutMs = WAIT_MS): Promise<void> {
  await until(`${count} node rows`, async () => (await page.getByTestId('node-row').count()) === count, timeoutMs);
}

/** Waits until the element with this test id has `attribute` equal to `value`. */
export async function untilAttribute(page: Page, testId: string, attribute: string, value: string, timeoutMs = WAIT_MS): Promise<void> {
  await until(`${testId} ${attribute}=${value}`, async () => (await page.getByTestId(testId).getAttribute(attribute, { timeout: 1000 })) === value, timeoutMs);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export function maybeUpdateReadmeImage(file: string): void {
  if (process.env['UPDATE_DASHBOARD_IMAGE'] !== '1') return;
  mkdirSync(path.dirname(README_IMAGE), { recursive: true });
  copyFileSync(file, README_IMAGE);
}

export interface Answer {
  status: number;
  body: unknown;
}

/** One call to the service, as a client (and, with a token, as the operator) makes it. */
export async function call(baseUrl: string, method: 'GET' | 'POST', urlPath: string, options: { body?: unknown; token?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A POST the edge may answer 503 while members move: retried (same requestId) within a bound. */
export async function edgeCommand(baseUrl: string, urlPath: string, body: Record<string, unknown>): Promise<Answer> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await call(baseUrl, 'POST', urlPath, { body });
    if (answer.status < 500 || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface KnownHistory {
  memberId: string;
  /** Licenses still held, by id. */
  held: string[];
}

/**
 * A member with a known history, made through the edge API: three acquires on two devices and
 * one release, so the timeline has a few events and the state changes along it.
 */
export async function makeHistory(baseUrl: string, memberId: string): Promise<KnownHistory> {
  const acquire = async (deviceId: string, titleId: string, requestId: string): Promise<string> => {
    const answer = await edgeCommand(baseUrl, `/v1/members/${memberId}/licenses`, { deviceId, titleId, requestId });
    if (answer.status !== 201) throw new Error(`acquire answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return (answer.body as { licenseId: string }).licenseId;
  };
  const first = await acquire('d1', 't1', `${memberId}-a1`);
  const second = await acquire('d1', 't2', `${memberId}-a2`);
  const released = await edgeCommand(baseUrl, `/v1/members/${memberId}/licenses/${first}/release`, { requestId: `${memberId}-r1` });
  if (released.status !== 200) throw new Error(`release answered ${released.status}: ${JSON.stringify(released.body)}`);
  const third = await acquire('d2', 't1', `${memberId}-a3`);
  return { memberId, held: [second, third] };
}

/** The member's events as the debug API gives them (the JSON document). */
export async function debugEvents(baseUrl: string, token: string, memberId: string): Promise<{ position: number; at: string; type: string }[]> {
  const answer = await call(baseUrl, 'GET', `/v1/debug/members/${encodeURIComponent(memberId)}/events`, { token });
  if (answer.status !== 200) throw new Error(`events answered ${answer.status}`);
  return (answer.body as { events: { position: number; at: string; type: string }[] }).events;
}

/**
 * The prototype-key barrage, shared by the single-node and the cluster test: every id position
 * of every route (member, device, title, license, request and session ids, plan, the
 * X-Request-Id header, query keys, body keys, path segments, the debug and admin routes) driven
 * with each own property name of Object.prototype and Function.prototype, over real HTTP, with
 * the answer each must get. Rules name plans, studios and titles after the same names. Each
 * mismatch is collected as one line, so a failure says which name, where, and what came back.
 * Not a test file by itself.
 */
import type { Test } from 'tap';
import { Agent, request } from 'undici';
import type { Rules } from '../../src/domain/rules.ts';
import { T0, TEST_ADMIN_TOKEN, testRules } from '../support/fixtures.ts';
import { ID_GRAMMAR, PROTOTYPE_NAMES, prototypeChanges, type PrototypeSnapshot } from './prototype-keys-support.ts';

/** Names the id grammar accepts, and the ones it refuses (none today: every one is checked anyway). */
export const ID_NAMES = PROTOTYPE_NAMES.filter((name) => ID_GRAMMAR.test(name));
export const NON_ID_NAMES = PROTOTYPE_NAMES.filter((name) => !ID_GRAMMAR.test(name));

/** Title-studio limits that differ from the defaults, so an answer shows which rules applied. */
export const STUDIO_YEARLY_LIMIT = 2;
export const PLAN_DEVICES = 4;

/** Rules whose default plan, plans, studios and titles are named after every prototype property. */
export function hostileRules(version: string): Rules {
  const base = testRules();
  const named = <T>(value: (name: string) => T): Record<string, T> => Object.fromEntries(PROTOTYPE_NAMES.map((name) => [name, value(name)]));
  return testRules({
    version,
    defaults: { ...base.defaults, plan: '__proto__' },
    plans: { ...base.plans, ...named(() => ({ maxDownloadDevices: PLAN_DEVICES })) },
    studios: { ...base.studios, ...named(() => ({ yearlyTitleLimit: STUDIO_YEARLY_LIMIT, maxActiveDownloadsPerStudio: 3 })) },
    titles: { ...base.titles, ...named((name) => ({ studio: name })) },
  });
}

export type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  /** The JSON object answered, checked field by field; `{}` when the answer is not one. */
  body: Json;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Client {
  /** `body`: an object (sent as JSON) or a raw JSON text (for keys an object literal cannot hold). */
  send(method: 'GET' | 'POST' | 'DELETE', path: string, options?: { body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<Answer>;
  close(): Promise<void>;
}

/** A client that spreads requests over `bases` (the nodes of a cluster, or one server). */
export function httpClient(bases: () => string[]): Client {
  const agent = new Agent({ connections: 16, keepAliveTimeout: 5000 });
  let turn = 0;
  return {
    async send(method, path, options = {}) {
      const all = bases();
      const base = all[turn++ % all.length] as string;
      const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
      const response = await request(`${base}${path}`, {
        method,
        dispatcher: agent,
        headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...(payload !== undefined ? { body: payload } : {}),
        headersTimeout: 20_000,
        bodyTimeout: 20_000,
      });
      const text = await response.body.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      const body = typeof parsed === 'object' && parsed !== null ? (parsed as Json) : {};
      return { status: response.statusCode, body, text, headers: response.headers };
    },
    close: () => agent.close(),
  };
}

const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const STARTED_AT = new Date(T0 - 3_600_000).toISOString();
const q = encodeURIComponent;

/** Collects mismatches instead of failing at the first: one barrage run reports them all. */
export class Findings {
  readonly problems: string[] = [];
  checked = 0;

  expect(what: string, answer: Answer, status: number, code?: string | string[]): boolean {
    this.checked += 1;
    const codes = code === undefined ? null : Array.isArray(code) ? code : [code];
    const gotCode = answer.body.code;
    if (answer.status === status && (codes === null || (typeof gotCode === 'string' && codes.includes(gotCode)))) return true;
    this.problems.push(`${what}: wanted ${status}${codes ? ` ${codes.join('|')}` : ''}, got ${answer.status} ${answer.text.slice(0, 240)}`);
    return false;
  }

  check(what: string, ok: boolean, detail = ''): void {
    this.checked += 1;
    if (!ok) this.problems.push(`${what}${detail ? `: ${detail}` : ''}`);
  }
}

export interface BarrageOptions {
  /** Cluster: node ids, which are not probed with DELETE/drain (they are real nodes). */
  nodeIds?: readonly string[];
}

export interface BarrageResult {
  findings: Findings;
  /** Every member the barrage wrote to (its history must survive a restart). */
  members: string[];
}

/** The whole barrage: every name, concurrently across names, in order within one name. */
export async function runBarrage(client: Client, options: BarrageOptions = {}): Promise<BarrageResult> {
  const findings = new Findings();
  const members = new Set<string>();
  await Promise.all(ID_NAMES.map((name) => oneName(client, name, findings, members, options)));
  for (const name of NON_ID_NAMES) {
    // Unreachable today (every name fits the grammar); kept so a new name is still checked.
    findings.expect(`member id ${name} outside the id grammar`, await client.send('GET', `/v1/members/${q(name)}/licenses`), 400, 'VALIDATION_FAILED');
  }
  return { findings, members: [...members].sort() };
}

async function oneName(client: Client, n: string, f: Findings, members: Set<string>, options: BarrageOptions): Promise<void> {
  // The name is also this request's X-Request-Id: it goes into logs and onto the stored events.
  const headers = { 'x-request-id': n };
  const send = (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, extra: Record<string, string> = {}) =>
    client.send(method, path, { ...(body !== undefined ? { body } : {}), headers: { ...headers, ...extra } });
  const m = `/v1/members/${q(n)}`;
  members.add(n);

  // The member, device, title, plan and request id are all the name.
  const acquired = await send('POST', `${m}/licenses`, { deviceId: n, titleId: n, plan: n, requestId: n });
  if (!f.expect(`${n}: acquire`, acquired, 201)) return;
  const license = acquired.body.licenseId as string;
  f.check(`${n}: acquire answers the name back`, acquired.body.memberId === n && acquired.body.deviceId === n && acquired.body.titleId === n, acquired.text);
  f.check(`${n}: the title belongs to the studio named ${n}`, acquired.body.studioId === n, acquired.text);
  f.check(`${n}: X-Request-Id is echoed`, acquired.headers['x-request-id'] === n, String(acquired.headers['x-request-id']));
  const replayed = await send('POST', `${m}/licenses`, { deviceId: n, titleId: n, plan: n, requestId: n });
  if (f.expect(`${n}: acquire repeated with requestId ${n}`, replayed, 201)) {
    f.check(`${n}: the repeat is the first answer`, replayed.body.licenseId === license && replayed.headers['idempotent-replayed'] === 'true', replayed.text);
  }
  const check = await send('GET', `${m}/check?deviceId=${q(n)}&titleId=${q(n)}&plan=${q(n)}`);
  if (f.expect(`${n}: check`, check, 200)) f.check(`${n}: check allows a second download of the title`, check.body.allowed === true, check.text);
  f.expect(`${n}: check with the default plan (named __proto__)`, await send('GET', `${m}/check?deviceId=${q(n)}&titleId=${q(n)}`), 200);
  const listed = await send('GET', `${m}/licenses`);
  if (f.expect(`${n}: list`, listed, 200)) {
    f.check(
      `${n}: the list holds the license`,
      (listed.body.licenses as { licenseId: string; studioId: string }[]).some((l) => l.licenseId === license && l.studioId === n),
      listed.text,
    );
  }
  const L = `${m}/licenses/${q(license)}`;
  f.expect(`${n}: renew`, await send('POST', `${L}/renew`, { deviceId: n }), 200);
  f.expect(`${n}: playback with session id ${n}`, await send('POST', `${L}/playback`, { events: [{ sessionId: n, startedAt: STARTED_AT, durationMs: 1000 }], deviceId: n }), 202);
  f.expect(`${n}: requestId ${n} reused for a renewal`, await send('POST', `${L}/renew`, { requestId: n }), 422, 'REQUEST_ID_REUSED');
  for (const action of ['renew', 'release', 'playback'] as const) {
    const body = action === 'playback' ? { events: [{ sessionId: 's', startedAt: STARTED_AT, durationMs: 1 }] } : {};
    f.expect(`${n}: ${action} of license id ${n}`, await send('POST', `${m}/licenses/${q(n)}/${action}`, body), 404, 'LICENSE_NOT_FOUND');
  }
  // A second download of the title reaches the studio's yearly limit (2), not the default (3).
  const second = await send('POST', `${m}/licenses`, { deviceId: n, titleId: n });
  f.expect(`${n}: second acquire of title ${n}`, second, 201);
  const limited = await send('GET', `${m}/check?deviceId=${q(n)}&titleId=${q(n)}`);
  if (f.expect(`${n}: check at the studio's yearly limit`, limited, 200)) {
    f.check(`${n}: studio ${n}'s yearly limit applies`, limited.body.allowed === false && limited.body.reason === 'YEARLY_TITLE_LIMIT', limited.text);
  }
  f.expect(`${n}: third acquire of title ${n}`, await send('POST', `${m}/licenses`, { deviceId: n, titleId: n }), 409, 'LICENSE_REFUSED');
  f.expect(`${n}: release`, await send('POST', `${L}/release`, { deviceId: n }), 200);
  const deactivated = await send('POST', `${m}/devices/${q(n)}/deactivate`, {});
  if (f.expect(`${n}: deactivate device ${n}`, deactivated, 200)) {
    f.check(
      `${n}: the deactivation released the second license`,
      deactivated.body.deviceId === n && (deactivated.body.releasedLicenseIds as unknown[]).length === 1,
      deactivated.text,
    );
  }
  f.expect(`${n}: deactivate device ${n} again`, await send('POST', `${m}/devices/${q(n)}/deactivate`), 200);
  // Leaves the member with an active license, for the restart check.
  f.expect(`${n}: acquire on the deactivated device ${n}`, await send('POST', `${m}/licenses`, { deviceId: n, titleId: 'open-a', plan: n }), 201);

  // Other members: a device that never held a download, and the name as the request id of every command.
  const other = `x.${n}`;
  f.expect(`${other}: deactivate unknown device ${n}`, await send('POST', `/v1/members/${q(other)}/devices/${q(n)}/deactivate`, {}), 404, 'DEVICE_NOT_FOUND');
  const commands: [kind: 'renew' | 'playback' | 'release', body: unknown][] = [
    ['renew', { requestId: n }],
    ['playback', { requestId: n, events: [{ sessionId: n, startedAt: STARTED_AT, durationMs: 5 }] }],
    ['release', { requestId: n }],
  ];
  for (const [index, [kind, body]] of commands.entries()) {
    // Each kind on a fresh member of its own: a request id names one command.
    const owner = `${kind}.${n}`;
    members.add(owner);
    const base = `/v1/members/${q(owner)}`;
    const got = await send('POST', `${base}/licenses`, { deviceId: 'd', titleId: 'open-a', requestId: `first-${index}` });
    if (!f.expect(`${owner}: acquire`, got, 201)) continue;
    const path = `${base}/licenses/${q(got.body.licenseId as string)}/${kind}`;
    const first = await send('POST', path, body);
    const again = await send('POST', path, body);
    if (f.expect(`${owner}: ${kind} with requestId ${n}`, first, kind === 'playback' ? 202 : 200)) {
      f.expect(`${owner}: ${kind} repeated with requestId ${n}`, again, first.status);
      f.check(`${owner}: the repeat is marked replayed`, again.headers['idempotent-replayed'] === 'true', JSON.stringify(again.headers));
    }
  }
  const deviceOwner = `deactivate.${n}`;
  members.add(deviceOwner);
  const d = `/v1/members/${q(deviceOwner)}`;
  f.expect(`${deviceOwner}: acquire`, await send('POST', `${d}/licenses`, { deviceId: 'd', titleId: 'open-a' }), 201);
  f.expect(`${deviceOwner}: deactivate with requestId ${n}`, await send('POST', `${d}/devices/d/deactivate`, { requestId: n }), 200);
  const repeat = await send('POST', `${d}/devices/d/deactivate`, { requestId: n });
  if (f.expect(`${deviceOwner}: deactivate repeated with requestId ${n}`, repeat, 200)) {
    f.check(`${deviceOwner}: the repeat is marked replayed`, repeat.headers['idempotent-replayed'] === 'true', JSON.stringify(repeat.headers));
  }

  // The name as a query key: refused by name where the route has a query schema, ignored elsewhere.
  for (const [path, status] of [
    [`${m}/check?deviceId=d&titleId=t&${q(n)}=1`, 400],
    [`${m}/check?${q(n)}=1&deviceId=d&titleId=t&${q(n)}=2`, 400],
    [`${m}/check?deviceId=d&${q(n)}%5BtitleId%5D=t`, 400],
    [`${m}/licenses?${q(n)}=1`, 200],
    [`/healthz?${q(n)}=1`, 200],
    [`/v1/debug/members/${q(n)}/state?${q(n)}=1`, 400],
    [`/v1/debug/members/${q(n)}/events?${q(n)}=1`, 400],
    [`/v1/debug/members/${q(n)}/explain?deviceId=d&titleId=t&${q(n)}=1`, 400],
  ] as const) {
    f.expect(
      `${n}: query key in GET ${path}`,
      await send('GET', path, undefined, path.startsWith('/v1/debug') ? ADMIN : {}),
      status,
      status === 400 ? 'VALIDATION_FAILED' : undefined,
    );
  }

  // The name as a body key, at the top and nested, and hiding required fields under it. The JSON
  // parser refuses a "__proto__" key and a "constructor" holding "prototype" (INVALID_JSON); the
  // schemas refuse every other unknown key by name (VALIDATION_FAILED). Neither reaches a route.
  const key = JSON.stringify(n);
  const refusal = n === '__proto__' ? 'INVALID_JSON' : 'VALIDATION_FAILED';
  const bodies: [string, string, string][] = [
    [`${m}/licenses`, `{"deviceId":"d","titleId":"open-a",${key}:1}`, refusal],
    [`${m}/licenses`, `{${key}:{"deviceId":"d","titleId":"open-a"}}`, refusal],
    [`${m}/licenses`, `{"titleId":"open-a",${key}:{"deviceId":"d"},"constructor":{"prototype":{"deviceId":"d"}}}`, 'INVALID_JSON'],
    [`${m}/licenses/lic/renew`, `{${key}:{"requestId":"r"}}`, refusal],
    [`${m}/licenses/lic/release`, `{"deviceId":"d",${key}:[]}`, refusal],
    [`${m}/licenses/lic/playback`, `{"events":[{"sessionId":"s","startedAt":"${STARTED_AT}","durationMs":1,${key}:{"x":1}}]}`, refusal],
    [`${m}/devices/d/deactivate`, `{${key}:"x"}`, refusal],
    ['/v1/admin/clock', `{${key}:{"advanceMs":1}}`, refusal],
  ];
  for (const [path, raw, code] of bodies) {
    const extra = path.startsWith('/v1/admin') ? ADMIN : {};
    const answer = await client.send('POST', path, { raw, headers: { ...headers, ...extra } });
    if (f.expect(`${n}: body key in POST ${path} ${raw}`, answer, 400, code) && code === 'INVALID_JSON') {
      f.check(`${n}: the refusal of ${raw} says why`, /__proto__/.test(String(answer.body.message)), answer.text);
    }
  }

  // The name as a header name (Node parses headers into a plain object).
  const headed = await send('GET', `${m}/licenses`, undefined, { [n]: n, [`x-${n}`]: n });
  f.expect(`${n}: a request with a header named ${n}`, headed, 200);

  // The name as a path segment where no route has one.
  for (const path of [`/v1/members/${q(n)}`, `/${q(n)}`, `/v1/${q(n)}`, `${m}/${q(n)}`, `${m}/licenses/x/${q(n)}`]) {
    f.expect(`${n}: GET ${path}`, await send('GET', path), 404, 'ROUTE_NOT_FOUND');
  }
  const docs = await send('GET', `/docs/${q(n)}`);
  f.check(`${n}: GET /docs/${n} is no server error`, docs.status < 500, `${docs.status} ${docs.text.slice(0, 200)}`);

  // The debug and admin routes, with the token.
  const dm = `/v1/debug/members/${q(n)}`;
  const events = await send('GET', `${dm}/events?aggregate=license&aggregateId=${q(license)}`, undefined, ADMIN);
  if (f.expect(`${n}: debug events of the license`, events, 200)) {
    const rows = (events.body.events ?? []) as { correlationId: string | null; requestId: string | null; type: string }[];
    f.check(
      `${n}: the history shows the license`,
      rows.some((row) => row.type === 'LicenseAcquired'),
      events.text.slice(0, 300),
    );
    f.check(
      `${n}: the acquire's events carry X-Request-Id ${n} and requestId ${n}`,
      rows.some((row) => row.correlationId === n && row.requestId === n),
      events.text.slice(0, 300),
    );
  }
  f.expect(`${n}: debug events of device ${n}`, await send('GET', `${dm}/events?aggregate=device&aggregateId=${q(n)}`, undefined, ADMIN), 200);
  f.expect(`${n}: debug state`, await send('GET', `${dm}/state`, undefined, ADMIN), 200);
  const explained = await send('GET', `${dm}/explain?deviceId=${q(n)}&titleId=${q(n)}&plan=${q(n)}`, undefined, ADMIN);
  if (f.expect(`${n}: debug explain`, explained, 200)) {
    const limits = (explained.body.limits ?? {}) as Json;
    f.check(
      `${n}: explain uses plan ${n} and studio ${n}`,
      limits.plan === n && limits.studioId === n && limits.maxDownloadDevices === PLAN_DEVICES && limits.yearlyTitleLimit === STUDIO_YEARLY_LIMIT,
      JSON.stringify(limits),
    );
  }
  const byDefault = await send('GET', `${dm}/explain?deviceId=${q(n)}&titleId=${q(n)}`, undefined, ADMIN);
  if (f.expect(`${n}: debug explain with the default plan`, byDefault, 200))
    f.check(`${n}: the default plan is __proto__`, (byDefault.body.limits as Json | undefined)?.plan === '__proto__', JSON.stringify(byDefault.body.limits));
  f.expect(
    `${n}: explain under rules version ${n}`,
    await send('GET', `${dm}/explain?deviceId=d&titleId=t&rulesVersion=${q(n)}`, undefined, ADMIN),
    404,
    'RULES_VERSION_NOT_FOUND',
  );
  f.expect(`${n}: debug without the token`, await send('GET', `${dm}/state`, undefined, { authorization: `Bearer ${n}` }), 401, 'UNAUTHORIZED');
  f.expect(`${n}: snapshot now`, await send('POST', `/v1/admin/members/${q(n)}/snapshot`, undefined, ADMIN), 200);
  if (options.nodeIds && !options.nodeIds.includes(n)) {
    f.expect(`${n}: drain unknown node ${n}`, await send('POST', `/v1/admin/cluster/nodes/${q(n)}/drain`, undefined, ADMIN), 404, 'NODE_NOT_FOUND');
    f.expect(`${n}: remove unknown node ${n}`, await send('DELETE', `/v1/admin/cluster/nodes/${q(n)}`, undefined, ADMIN), 404, 'NODE_NOT_FOUND');
  }
}

/**
 * With rules that name nothing after a prototype property, the same names must be unknown:
 * plan `n` is UNKNOWN_PLAN and title `n` belongs to no studio (a `{}` lookup would find
 * Object.prototype's `constructor`, `toString` ... and take them for a plan or a title).
 */
export async function runAbsentNames(client: Client): Promise<{ findings: Findings; members: string[] }> {
  const f = new Findings();
  const members: string[] = [];
  await Promise.all(
    ID_NAMES.map(async (n) => {
      const member = `absent.${n}`;
      members.push(member);
      const m = `/v1/members/${q(member)}`;
      f.expect(`${n}: unknown plan in a check`, await client.send('GET', `${m}/check?deviceId=${q(n)}&titleId=${q(n)}&plan=${q(n)}`), 400, 'UNKNOWN_PLAN');
      f.expect(`${n}: unknown plan in an acquire`, await client.send('POST', `${m}/licenses`, { body: { deviceId: n, titleId: n, plan: n } }), 400, 'UNKNOWN_PLAN');
      const acquired = await client.send('POST', `${m}/licenses`, { body: { deviceId: n, titleId: n } });
      if (f.expect(`${n}: acquire of a title missing from the catalog`, acquired, 201)) f.check(`${n}: title ${n} has no studio`, acquired.body.studioId === null, acquired.text);
    }),
  );
  return { findings: f, members: members.sort() };
}

/** Each member's active licenses, as listed by the service (what must survive a restart). */
export async function licensesOf(client: Client, members: readonly string[]): Promise<Map<string, string>> {
  const lists = new Map<string, string>();
  for (const member of members) {
    const answer = await client.send('GET', `/v1/members/${q(member)}/licenses`);
    lists.set(member, `${answer.status} ${answer.text}`);
  }
  return lists;
}

/**
 * What both suites check once the hostile rules are replaced by rules that name nothing after a
 * prototype property: the same names are then unknown, no prototype changed, and every member
 * the barrages wrote (and `alice`) is listed. Returns the members and their lists, for the
 * restart that follows.
 */
export async function checkAbsentNamesAndListAll(
  t: Test,
  client: Client,
  members: readonly string[],
  before: PrototypeSnapshot,
): Promise<{ everyone: string[]; listed: Map<string, string> }> {
  const absent = await runAbsentNames(client);
  t.same(absent.findings.problems, [], `${absent.findings.checked} answers with the names absent from the rules`);
  t.same(prototypeChanges(before), [], 'still unchanged');

  const everyone = [...members, ...absent.members, 'alice'];
  const listed = await licensesOf(client, everyone);
  t.same(
    [...listed].filter(([, answer]) => !answer.startsWith('200 ')),
    [],
    'every member is listed',
  );
  return { everyone, listed };
}

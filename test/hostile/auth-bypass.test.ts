/**
 * Auth bypass attempts, written raw to a real listening server: no spelling of the header, no
 * second header, no other place for the token and no path trick reaches an admin or debug route
 * without the right token; the right token is still accepted (so the refusals are about the
 * attempt). The comparison goes through timingSafeEqual over same-length digests every time.
 */
import * as crypto from 'node:crypto';
import t, { type Test } from 'tap';
import { TEST_ADMIN_TOKEN } from '../support/fixtures.ts';
import { listening, rawExchange, rawRequest, type RawAnswer } from './raw-http.ts';

const TOKEN = TEST_ADMIN_TOKEN;
/** What the admin routes answer when reached: the rules, a snapshot result, a member's state. */
const REACHED = /"rulesVersion"|"taken"|"eventsApplied"/;

/** Authorization values that must not pass. */
const WRONG_HEADERS: [string, string][] = [
  ['the scheme alone', 'Bearer'],
  ['an empty token', 'Bearer '],
  ['a wrong token', 'Bearer wrong-token-0123456789abcdef'],
  ['the token less its last character', `Bearer ${TOKEN.slice(0, -1)}`],
  ['the token and one more character', `Bearer ${TOKEN}x`],
  ['the token then more words', `Bearer ${TOKEN} extra`],
  ['the token twice, comma-joined', `Bearer ${TOKEN}, Bearer ${TOKEN}`],
  ['a prefix of the token, then whitespace', `Bearer ${TOKEN.slice(0, 8)}   `],
  ['no space after the scheme', `Bearer${TOKEN}`],
  ['a tab after the scheme', `Bearer\t${TOKEN}`],
  ['a colon after the scheme', `Bearer:${TOKEN}`],
  ['the token without a scheme', TOKEN],
  ['another scheme', `Token ${TOKEN}`],
  ['Basic with the token as password', `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`],
  ['Basic with the token alone', `Basic ${Buffer.from(TOKEN).toString('base64')}`],
  ['the token URL-encoded', `Bearer ${encodeURIComponent(`${TOKEN} `)}`],
  ['a look-alike character (Cyrillic e)', `Bearer ${TOKEN.replace('e', '\u0435')}`],
];

/** Authorization values that are the right token, spelled as RFC 9110 allows. */
const RIGHT_HEADERS: [string, string][] = [
  ['Bearer', `Bearer ${TOKEN}`],
  ['bearer (the scheme is case-insensitive)', `bearer ${TOKEN}`],
  ['BEARER', `BEARER ${TOKEN}`],
  ['two spaces after the scheme', `Bearer  ${TOKEN}`],
  ['trailing whitespace (not part of a field value)', `Bearer ${TOKEN}  `],
];

const TARGETS: [string, string][] = [
  ['GET', '/v1/admin/rules'],
  ['POST', '/v1/admin/rules/reload'],
  ['POST', '/v1/admin/members/m1/snapshot'],
  ['GET', '/v1/debug/members/m1/state'],
];

function headerLines(headers: [string, string][]): string {
  return headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
}

function send(port: number, method: string, target: string, headers: [string, string][]): Promise<RawAnswer> {
  return rawExchange(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${headerLines(headers)}\r\n`);
}

function expectKeptOut(t: Test, answer: RawAnswer, label: string): void {
  t.ok([400, 401, 404, 405].includes(answer.status), `${label}: refused (${answer.status})`, { raw: answer.raw.slice(0, 300) });
  t.notMatch(answer.body, REACHED, `${label}: the route did not run`);
}

t.test('no spelling of the Authorization header but the right token gets in', async (t) => {
  const { edgePort: port } = await listening(t);
  for (const [method, path] of TARGETS) {
    for (const [label, value] of WRONG_HEADERS) {
      const answer = await send(port, method, path, [['Authorization', value]]);
      t.equal(answer.status, 401, `${method} ${path}, ${label}: 401`, { raw: answer.raw.slice(0, 300) });
      t.notMatch(answer.body, REACHED, `${method} ${path}, ${label}: the route did not run`);
    }
    t.equal((await send(port, method, path, [])).status, 401, `${method} ${path}, no header: 401`);
  }
  for (const [label, value] of RIGHT_HEADERS) {
    const answer = await send(port, 'GET', '/v1/admin/rules', [['Authorization', value]]);
    t.equal(answer.status, 200, `the right token, ${label}: 200`);
    t.match(answer.body, REACHED, `the right token, ${label}: the route ran`);
  }
});

t.test('two Authorization headers are never taken as one, whichever comes first', async (t) => {
  const { edgePort: port } = await listening(t);
  const right = `Bearer ${TOKEN}`;
  const wrong = 'Bearer wrong-token-0123456789abcdef';
  for (const [label, pair] of [
    ['wrong then right', [wrong, right]],
    ['right then wrong', [right, wrong]],
    ['right twice', [right, right]],
    ['right then empty', [right, '']],
  ] as const) {
    const answer = await send(port, 'GET', '/v1/admin/rules', [
      ['Authorization', pair[0]],
      ['authorization', pair[1]],
    ]);
    t.equal(answer.status, 401, `${label}: 401`, { raw: answer.raw.slice(0, 300) });
    t.notMatch(answer.body, REACHED, `${label}: the route did not run`);
  }
});

t.test('the token anywhere but the Authorization header does nothing', async (t) => {
  const { edgePort: port } = await listening(t);
  const attempts: [string, string, [string, string][]][] = [
    ['a query parameter', `/v1/admin/rules?token=${TOKEN}`, []],
    ['access_token', `/v1/admin/rules?access_token=${TOKEN}`, []],
    ['X-Admin-Token', '/v1/admin/rules', [['X-Admin-Token', TOKEN]]],
    ['X-Api-Key', '/v1/admin/rules', [['X-Api-Key', TOKEN]]],
    ['a cookie', '/v1/admin/rules', [['Cookie', `token=${TOKEN}; authorization=Bearer%20${TOKEN}`]]],
    ['Proxy-Authorization', '/v1/admin/rules', [['Proxy-Authorization', `Bearer ${TOKEN}`]]],
    [
      'a loopback X-Forwarded-For',
      '/v1/admin/rules',
      [
        ['X-Forwarded-For', '127.0.0.1'],
        ['X-Real-IP', '127.0.0.1'],
      ],
    ],
  ];
  for (const [label, target, headers] of attempts) expectKeptOut(t, await send(port, 'GET', target, headers), label);
});

t.test('no path trick reaches an admin or debug route without the token', async (t) => {
  const { edgePort: port } = await listening(t);
  const tricks = [
    '/v1//admin/rules',
    '//v1/admin/rules',
    '/v1/admin//rules',
    '/v1/admin/../admin/rules',
    '/v1/admin/./rules',
    '/./v1/admin/rules',
    '/v1/x/../admin/rules',
    '/v1/admin%2Frules',
    '/v1%2Fadmin%2Frules',
    '/v1/%61dmin/rules',
    '/V1/ADMIN/RULES',
    '/v1/Admin/rules',
    '/v1/admin/rules/',
    '/v1/admin/rules;x=1',
    '/v1/admin/rules%3Bx=1',
    '/v1/admin/rules?x=1',
    '/v1/admin/rules#x',
    '/v1/admin/rules%00',
    '/v1/admin/rules%20',
    '/v1/debug/members/m1/state/',
    '/v1/debug//members/m1/state',
    '/v1/debug/members/m1/../m1/state',
    '/v1/debug/members/m1%2Fstate',
    '/healthz/../v1/admin/rules',
    `http://127.0.0.1:${port}/v1/admin/rules`,
  ];
  for (const path of tricks) {
    for (const method of ['GET', 'HEAD', 'POST']) expectKeptOut(t, await send(port, method, path, []), `${method} ${path}`);
  }
  // Method and URL overrides some frameworks honour: fastify does not, and neither do we.
  expectKeptOut(t, await send(port, 'POST', '/v1/admin/rules', [['X-HTTP-Method-Override', 'GET']]), 'X-HTTP-Method-Override');
  for (const header of ['X-Original-URL', 'X-Rewrite-URL']) {
    const answer = await send(port, 'GET', '/healthz', [[header, '/v1/admin/rules']]);
    t.equal(answer.status, 200, `${header}: the path requested is served`);
    t.notMatch(answer.body, REACHED, `${header}: not the admin route`);
  }
});

t.test('with a separate admin port, the edge port has no admin route at all, token or not', async (t) => {
  const { edgePort, adminPort } = await listening(t, { separateAdmin: true });
  for (const [method, path] of TARGETS) {
    const answer = await rawRequest(edgePort, method, path, { headers: { Authorization: `Bearer ${TOKEN}` } });
    t.equal(answer.status, 404, `edge port, ${method} ${path} with the token: 404`);
  }
  t.equal((await rawRequest(adminPort ?? 0, 'GET', '/v1/admin/rules', { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 200, 'the admin port serves it');
  t.equal((await rawRequest(adminPort ?? 0, 'GET', '/v1/admin/rules')).status, 401, 'and wants the token');
});

t.test('every check compares same-length digests with timingSafeEqual, whatever is presented', async (t) => {
  const lengths: number[][] = [];
  const { bearerChecker } = await t.mockImport<typeof import('../../src/http/admin-auth.ts')>('../../src/http/admin-auth.ts', {
    'node:crypto': {
      ...crypto,
      timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        lengths.push([a.byteLength, b.byteLength]);
        return crypto.timingSafeEqual(a, b);
      },
    },
  });
  const check = bearerChecker(TOKEN);
  const presented = [undefined, '', 'Bearer', 'Bearer x', `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Bearer ${'y'.repeat(5000)}`, `Bearer ${TOKEN}`];
  const results = presented.map((value) => check(value));
  t.same(results, [false, false, false, false, false, false, false, true], 'only the token passes');
  t.equal(lengths.length, presented.length, 'timingSafeEqual ran for every attempt, a missing header included');
  t.ok(
    lengths.every(([a, b]) => a === 32 && b === 32),
    'always on two 32-byte digests (no length short-cut)',
  );
});

/**
 * Helpers shared by the HTTP tests: inject a request and read its JSON, drive the common
 * commands, and check error bodies against the catalog. Not a test file by itself.
 */
import type { InjectOptions } from 'fastify';
import type { Test } from 'tap';
import { ERROR_CATALOG, isErrorCode } from '../../src/errors/catalog.ts';
import type { StreamHead } from '../../src/store/event-store.ts';
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from '../support/fixtures.ts';

export type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  body: Json;
  headers: Record<string, unknown>;
  raw: string;
}

/** tap's test object, as the helpers receive it. */
export type Asserts = Test;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A server on an in-memory store and a manual clock at T0, closed when the test ends. */
export async function server(t: Asserts, options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  t.teardown(() => s.close());
  return s;
}

/** Admin and debug URLs get the test admin token unless the caller sets Authorization itself. */
export function withAdminToken(options: InjectOptions): InjectOptions {
  const url = typeof options.url === 'string' ? options.url : '';
  if (!/^\/v1\/(admin|debug)\//.test(url)) return options;
  const headers = (options.headers ?? {}) as Record<string, unknown>;
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return options;
  return { ...options, headers: { ...headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}` } };
}

export async function call(s: TestServer, options: InjectOptions): Promise<Answer> {
  const res = await s.app.inject(withAdminToken(options));
  let body: Json = {};
  if (res.body.length > 0) {
    const parsed: unknown = JSON.parse(res.body);
    body = typeof parsed === 'object' && parsed !== null ? (parsed as Json) : { value: parsed };
  }
  return { status: res.statusCode, body, headers: res.headers, raw: res.body };
}

export function post(s: TestServer, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const options: InjectOptions = { method: 'POST', url, headers };
  if (payload !== undefined) options.payload = payload as NonNullable<InjectOptions['payload']>;
  return call(s, options);
}

export function get(s: TestServer, url: string): Promise<Answer> {
  return call(s, { method: 'GET', url });
}

export function acquire(s: TestServer, memberId: string, deviceId: string, titleId: string, extra: Json = {}): Promise<Answer> {
  return post(s, `/v1/members/${memberId}/licenses`, { deviceId, titleId, ...extra });
}

/** Acquires and insists on success; returns the license id. */
export async function acquireOk(t: Asserts, s: TestServer, memberId: string, deviceId: string, titleId: string, extra: Json = {}): Promise<string> {
  const res = await acquire(s, memberId, deviceId, titleId, extra);
  t.equal(res.status, 201, `acquire ${memberId}/${deviceId}/${titleId} succeeds: ${res.raw}`);
  const licenseId = res.body['licenseId'];
  if (typeof licenseId !== 'string') throw new Error(`acquire answered no licenseId: ${res.raw}`);
  return licenseId;
}

export function renew(s: TestServer, memberId: string, licenseId: string, payload?: Json): Promise<Answer> {
  return post(s, `/v1/members/${memberId}/licenses/${licenseId}/renew`, payload);
}

export function release(s: TestServer, memberId: string, licenseId: string, payload?: Json): Promise<Answer> {
  return post(s, `/v1/members/${memberId}/licenses/${licenseId}/release`, payload);
}

export async function releaseOk(t: Asserts, s: TestServer, memberId: string, licenseId: string): Promise<void> {
  const res = await release(s, memberId, licenseId);
  t.equal(res.status, 200, `release ${licenseId} succeeds: ${res.raw}`);
}

export function playback(s: TestServer, memberId: string, licenseId: string, payload: unknown): Promise<Answer> {
  return post(s, `/v1/members/${memberId}/licenses/${licenseId}/playback`, payload);
}

export function deactivate(s: TestServer, memberId: string, deviceId: string, payload?: Json): Promise<Answer> {
  return post(s, `/v1/members/${memberId}/devices/${deviceId}/deactivate`, payload);
}

export function check(s: TestServer, memberId: string, query: Record<string, string>): Promise<Answer> {
  return get(s, `/v1/members/${memberId}/check?${new URLSearchParams(query).toString()}`);
}

export async function licenses(s: TestServer, memberId: string): Promise<Json[]> {
  const res = await get(s, `/v1/members/${memberId}/licenses`);
  if (res.status !== 200) throw new Error(`GET licenses answered ${res.status}: ${res.raw}`);
  return res.body['licenses'] as Json[];
}

export async function advance(t: Asserts, s: TestServer, ms: number): Promise<void> {
  const res = await post(s, '/v1/admin/clock', { advanceMs: ms });
  t.equal(res.status, 200, `clock advances: ${res.raw}`);
}

export async function setClock(t: Asserts, s: TestServer, at: number): Promise<void> {
  const res = await post(s, '/v1/admin/clock', { now: new Date(at).toISOString() });
  t.equal(res.status, 200, `clock set: ${res.raw}`);
}

export function head(s: TestServer, memberId: string): Promise<StreamHead> {
  return s.store.readHead(memberId);
}

export function iso(at: number): string {
  return new Date(at).toISOString();
}

/**
 * An error answer: the status, a `code` from the catalog whose status is the HTTP status, and a
 * non-empty message. Never a 500.
 */
export function expectError(t: Asserts, res: Answer, status: number, code: string, label = ''): void {
  const prefix = label ? `${label}: ` : '';
  t.equal(res.status, status, `${prefix}status ${status} (${res.raw})`);
  t.ok(res.status < 500, `${prefix}never a 500`);
  const found = res.body['code'];
  t.equal(found, code, `${prefix}code ${code}`);
  t.ok(isErrorCode(found), `${prefix}code ${String(found)} is in the catalog`);
  if (isErrorCode(found)) t.equal(ERROR_CATALOG[found].status, res.status, `${prefix}HTTP status is the catalog's status for ${found}`);
  t.match(res.body['message'], /\S/, `${prefix}has a message`);
}

/** A 400 VALIDATION_FAILED naming the field, both in `field` and in the message. */
export function expectInvalid(t: Asserts, res: Answer, field: string, label = ''): void {
  expectError(t, res, 400, 'VALIDATION_FAILED', label || field);
  t.equal(res.body['field'], field, `${label || field}: field is ${field}`);
  t.ok(String(res.body['message']).includes(field), `${label || field}: message names ${field}: ${String(res.body['message'])}`);
}

/** A 409 refusal: {code, reason, message, details}. */
export function expectRefusal(t: Asserts, res: Answer, code: string, reason: string, label = ''): Json {
  expectError(t, res, 409, code, label || reason);
  t.equal(res.body['reason'], reason, `${label || reason}: reason ${reason}`);
  t.match(res.body, { code: String, reason: String, message: String, details: Object }, `${label || reason}: refusal body shape`);
  return (res.body['details'] ?? {}) as Json;
}

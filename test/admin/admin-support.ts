/** Helpers for the admin tests: requests with a chosen Authorization header, and temp config files. Not a test file by itself. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Test } from 'tap';
import type { Rules } from '../../src/domain/rules.ts';
import { TEST_ADMIN_TOKEN } from '../support/fixtures.ts';

export const AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
  raw: string;
}

/** Injects exactly the given request (no token added). */
export async function send(app: FastifyInstance, options: InjectOptions): Promise<Answer> {
  const res = await app.inject(options);
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(res.body);
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON (the /docs page)
  }
  return { status: res.statusCode, body, headers: res.headers, raw: res.body };
}

/** A 401 that says nothing beyond "authentication required". */
export function expectUnauthorized(t: Test, res: Answer, label: string): void {
  t.equal(res.status, 401, `${label}: 401 (${res.raw})`);
  t.same(res.body, { code: 'UNAUTHORIZED', message: 'authentication required' }, `${label}: no detail`);
  t.equal(res.headers['www-authenticate'], 'Bearer', `${label}: WWW-Authenticate: Bearer`);
}

/** A config file in a temp folder (removed at teardown); returns its path. */
export async function tempConfigFile(t: Test, service: Record<string, unknown>, rules: Rules): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admin-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'config.json');
  await writeConfigFile(path, service, rules);
  return path;
}

export async function writeConfigFile(path: string, service: Record<string, unknown>, rules: unknown): Promise<void> {
  await writeFile(path, JSON.stringify({ service, rules }, null, 2));
}

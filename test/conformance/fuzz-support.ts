/**
 * Runs schemathesis (the OpenAPI conformance fuzzer, from PyPI in a virtualenv) against a
 * running service, bounded in time, and reads what it and the service say afterwards.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/process.ts';

const run = promisify(execFile);

export const INSTALL_SCRIPT = `${REPO_ROOT}test/conformance/install-schemathesis.sh`;

/**
 * The checks the issue asks for, and two more for the 405s: a method a path does not list gets
 * 405 METHOD_NOT_ALLOWED, with an `Allow` header that lists what the document lists. Every one
 * must pass.
 */
export const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'response_schema_conformance',
  'content_type_conformance',
  'negative_data_rejection',
  'ignored_auth',
  'unsupported_method',
  'allow_header_conformance',
] as const;

/**
 * The schemathesis executable: SCHEMATHESIS (set by .ci/run) or the one the install script
 * makes ready (it creates the venv from the pinned requirements when missing or stale). Throws
 * with the command to run when it cannot: the run is never skipped.
 */
export async function schemathesisExecutable(): Promise<string> {
  const given = process.env['SCHEMATHESIS'];
  if (given) return given;
  try {
    const { stdout } = await run('bash', [INSTALL_SCRIPT], { cwd: REPO_ROOT, timeout: 300_000, maxBuffer: 4 * 1024 * 1024 });
    const path = stdout.trim().split('\n').at(-1);
    if (!path) throw new Error('the install script printed no path');
    return path;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(
      `schemathesis is not available and could not be installed (run \`${INSTALL_SCRIPT}\`; it needs python3 with venv and PyPI): ${stderr || (error as Error).message}`,
      { cause: error },
    );
  }
}

export interface FuzzRun {
  code: number | null;
  /** True when the run was killed at the time bound. */
  timedOut: boolean;
  output: string;
  seconds: number;
}

export interface FuzzOptions {
  executable: string;
  baseUrl: string;
  token: string;
  /** Extra schemathesis arguments (operation filters, generation mode). */
  args: string[];
  cwd: string;
  timeoutMs: number;
}

/**
 * One schemathesis run over the checked-in openapi.json: fixed seed, bounded examples, one
 * worker (reproducible, and gentle on a 2-core machine), no example database (a failure found
 * once must not change later runs), the admin token on every request (ignored_auth takes it off).
 */
export function fuzz(options: FuzzOptions): Promise<FuzzRun> {
  const args = [
    'run',
    `${REPO_ROOT}openapi.json`,
    '--url',
    options.baseUrl,
    '--checks',
    CHECKS.join(','),
    '--seed',
    '20260101',
    '--max-examples',
    '30',
    '--workers',
    '1',
    '--generation-database',
    'none',
    '--request-timeout',
    '10',
    '--header',
    `Authorization: Bearer ${options.token}`,
    '--no-color',
    ...options.args,
  ];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(options.executable, args, {
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: '1', COLUMNS: '120', PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (error) => (output += `\n${error.message}`));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/**
 * What the test log shows of a run: its summary (operations, phases, warnings, test cases), and
 * the failures in full when there are any. The emoji markers become words.
 */
export function summary(output: string): string[] {
  const lines = output.replace(/\r/g, '').split('\n');
  const start = (title: string) => lines.findIndex((line) => new RegExp(`^=+ ${title} =+$`).test(line));
  const failures = start('FAILURES');
  const warnings = start('WARNINGS');
  const summaryAt = start('SUMMARY');
  const picked = [...(failures >= 0 ? lines.slice(failures, warnings >= 0 ? warnings : summaryAt) : []), ...(summaryAt >= 0 ? lines.slice(summaryAt) : lines.slice(-40))];
  return picked
    .map((line) => line.replace(/✅/g, 'passed').replace(/❌/g, 'FAILED').replace(/⏭/g, 'skipped').replace(/⚠️/g, 'warning').trimEnd())
    .filter((line) => line.length > 0);
}

/** `N generated, N passed` from the summary: the number of test cases, to check the run did something. */
export function casesGenerated(output: string): number {
  return Number(/(\d+) generated/.exec(output)?.[1] ?? 0);
}

/** Requests the service answered, by status, from its Prometheus counter (what the fuzzer really got). */
export async function answeredStatuses(baseUrl: string, token: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^http_requests_total\{[^}]*status="(\d+)"[^}]*\} (\d+)$/gm)) {
    const status = match[1] as string;
    counts.set(status, (counts.get(status) ?? 0) + Number(match[2]));
  }
  return counts;
}

export function describeStatuses(counts: Map<string, number>): string {
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
}

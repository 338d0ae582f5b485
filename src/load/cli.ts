/**
 * `npm run load -- --scenario <file> --target <url> [--target <url>...] [--duration s]
 * [--requests n] [--concurrency n] [--connections n] [--seed n] [--out file] [--quiet]`.
 * Flags override the scenario file. Exit codes: 0 done (even with errors counted: the report
 * is the result), 1 unexpected failure or unreachable target, 2 bad usage, scenario or target.
 */
import { parseArgs } from 'node:util';
import { formatReport } from './format.ts';
import { runLoad, TargetUnreachableError } from './runner.ts';
import { ScenarioError, type ScenarioOverrides } from './scenario.ts';
import { TargetRefusedError } from './targets.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: npm run load -- --scenario <file.json> --target http://127.0.0.1:<port> [--target ...]
  [--duration <seconds>] [--requests <n>] [--concurrency <n>] [--connections <n>] [--seed <n>]
  [--out <file.json>] [--quiet]
Targets must be loopback (127.0.0.0/8, ::1, localhost). Default --out: load-results/<timestamp>.json`;

export interface CliOptions {
  scenario: string;
  targets: string[];
  overrides: ScenarioOverrides;
  out: string;
  quiet: boolean;
}

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  // Range checks are the scenario schema's job (so a flag and a file field fail alike).
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return parsed;
}

export function defaultOutPath(now = new Date()): string {
  // Colons are not portable in file names.
  return `load-results/${now
    .toISOString()
    .replaceAll(':', '-')
    .replace(/\.\d+Z$/, 'Z')}.json`;
}

export function parseCli(argv: readonly string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string' },
        target: { type: 'string', multiple: true },
        duration: { type: 'string' },
        requests: { type: 'string' },
        concurrency: { type: 'string' },
        connections: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) throw new UsageError('');
  if (values.scenario === undefined) throw new UsageError('--scenario is required');
  const overrides: ScenarioOverrides = {};
  const set = <K extends keyof ScenarioOverrides>(key: K, value: number | undefined): void => {
    if (value !== undefined) overrides[key] = value;
  };
  set('durationSeconds', numberFlag('duration', values.duration));
  set('maxRequests', numberFlag('requests', values.requests));
  set('concurrency', numberFlag('concurrency', values.concurrency));
  set('connections', numberFlag('connections', values.connections));
  set('seed', numberFlag('seed', values.seed));
  return { scenario: values.scenario, targets: values.target ?? [], overrides, out: values.out ?? defaultOutPath(), quiet: values.quiet };
}

/** Runs the CLI; returns the exit code (main.ts sets it, tests call this directly). */
export async function runCli(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  const abort = new AbortController();
  // First Ctrl-C: stop issuing, finish in-flight requests, still report. Second: the default.
  const onSigint = (): void => {
    io.stderr.write('stopping: waiting for requests in flight (Ctrl-C again to quit)\n');
    abort.abort();
    process.off('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  try {
    const cli = parseCli(argv);
    const report = await runLoad({
      scenario: cli.scenario,
      targets: cli.targets,
      overrides: cli.overrides,
      out: cli.out,
      progress: cli.quiet ? false : io.stderr,
      signal: abort.signal,
    });
    io.stdout.write(`${formatReport(report)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`${error.message ? `load: ${error.message}\n` : ''}${USAGE}\n`);
      return 2;
    }
    if (error instanceof TargetRefusedError || error instanceof ScenarioError) {
      io.stderr.write(`load: ${error.message}\n`);
      return 2;
    }
    if (error instanceof TargetUnreachableError) {
      io.stderr.write(`load: ${error.message}\n`);
      return 1;
    }
    io.stderr.write(`load: failed: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

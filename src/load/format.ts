/** The end-of-run summary as text: a table per operation, then statuses and codes. */
import { OPERATIONS } from './scenario.ts';
import type { LoadReport } from './runner.ts';
import type { OperationReport } from './stats.ts';

function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  // First column left-aligned (names), numbers right-aligned.
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ')).join('\n');
}

function counts(record: Record<string, number>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? '-' : entries.map(([key, n]) => `${key}=${n}`).join(' ');
}

function row(name: string, op: OperationReport): string[] {
  const l = op.latencyMs;
  return [
    name,
    String(op.count),
    op.throughput.toFixed(1),
    l.p50.toFixed(2),
    l.p90.toFixed(2),
    l.p99.toFixed(2),
    l.p999.toFixed(2),
    l.max.toFixed(2),
    String(op.ok),
    String(op.refusals),
    String(op.rejected),
    String(op.errors),
  ];
}

export function formatReport(report: LoadReport): string {
  const used = OPERATIONS.filter((op) => report.operations[op].count > 0);
  const lines = [
    `scenario ${report.scenario.name} (seed ${report.scenario.seed}) against ${report.targets.join(', ')}`,
    `${report.total.count} requests in ${report.elapsedSeconds.toFixed(1)} s (stopped by ${report.stopReason}), concurrency ${report.scenario.concurrency}`,
    '',
    table([
      ['operation', 'count', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'ok', 'refused', 'rejected', 'errors'],
      ...used.map((op) => row(op, report.operations[op])),
      row('total', report.total),
    ]),
    '',
    'statuses:',
    ...used.map((op) => `  ${op.padEnd(10)} ${counts(report.operations[op].statuses)}`),
    'codes (refusals are answers, errors are 5xx/transport):',
    ...used.map((op) => `  ${op.padEnd(10)} ${counts(report.operations[op].codes)}`),
  ];
  const fallbacks = OPERATIONS.filter((op) => report.operations[op].fellBackToAcquire > 0);
  if (fallbacks.length > 0) lines.push(`sent as acquire (member had no license): ${fallbacks.map((op) => `${op}=${report.operations[op].fellBackToAcquire}`).join(' ')}`);
  if (report.total.errors > 0) lines.push(`ERRORS: ${report.total.errors} (5xx or no answer)`);
  if (report.outPath) lines.push(`report: ${report.outPath}`);
  return lines.join('\n');
}

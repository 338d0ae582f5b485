/** The README documents the error catalog; this fails when the two disagree. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { ERROR_CATALOG } from '../../src/errors/catalog.ts';
import { REPO_ROOT } from '../support/process.ts';

const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
const start = readme.indexOf('<!-- errors:start -->');
const end = readme.indexOf('<!-- errors:end -->');

t.test('the README has an errors table between markers', async (t) => {
  t.ok(start >= 0 && end > start, 'markers present');
});

t.test('every catalog code is documented with its status, and nothing else is', async (t) => {
  const rows = readme
    .slice(start, end)
    .split('\n')
    .map((line) => /^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [String(m[1]), Number(m[2])] as const);
  const documented = Object.fromEntries(rows);
  const catalog = Object.fromEntries(Object.entries(ERROR_CATALOG).map(([code, entry]) => [code, entry.status]));
  t.same(documented, catalog);
  t.equal(rows.length, Object.keys(ERROR_CATALOG).length, 'no code documented twice');
});

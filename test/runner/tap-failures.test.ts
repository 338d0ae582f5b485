import t from 'tap';
import { TapFailures } from './tap-failures.ts';

const STREAM = `# Subtest: test/a.test.ts
    # Subtest: passes
        ok 1 - fine
        1..1
    ok 1 - passes # time=1ms
    # Subtest: the limit holds
        ok 1 - first
        not ok 2 - should be equal
          ---
          found: 4
          wanted: 3
          at:
            fileName: test/a.test.ts
          ...
        1..2
    not ok 2 - the limit holds # time=3ms
    1..2
not ok 1 - test/a.test.ts # time=9ms
# Subtest: test/b.test.ts
    not ok 1 - timeout!
    1..1
not ok 2 - test/b.test.ts
`;

t.test('each failure is named once, by its deepest path, with its diagnostic', async (t) => {
  const failures = new TapFailures();
  // Chunks split mid-line, as a pipe delivers them.
  for (let i = 0; i < STREAM.length; i += 7) failures.push(STREAM.slice(i, i + 7));
  const report = failures.report();
  t.equal(report.length, 2);
  t.match(report[0], /^test\/a\.test\.ts > the limit holds > should be equal\n/);
  t.match(report[0], /found: 4/);
  t.match(report[0], /wanted: 3/);
  t.equal(report[1], 'test/b.test.ts > timeout!');
});

t.test('a passing stream reports nothing', async (t) => {
  const failures = new TapFailures();
  failures.push('# Subtest: x\n    ok 1 - y\n    1..1\nok 1 - x\n');
  t.same(failures.report(), []);
});

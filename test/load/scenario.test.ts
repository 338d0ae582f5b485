/** Load generator pieces that need no server: scenario validation, targets, sampling. */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { ZipfSampler, seededRandom, WeightedPicker } from '../../src/load/random.ts';
import { applyOverrides, loadScenarioFile, parseScenario, ScenarioError } from '../../src/load/scenario.ts';
import { parseTarget, parseTargets, TargetRefusedError } from '../../src/load/targets.ts';

const valid = {
  members: { count: 10 },
  titles: ['film-1'],
  mix: { check: 1 },
  concurrency: 2,
  durationSeconds: 1,
  maxRequests: 10,
};

t.test('a valid scenario gets its defaults filled in', async (t) => {
  const scenario = parseScenario(valid);
  t.match(scenario, { name: 'unnamed', members: { count: 10, zipf: 0, devicesPerMember: 2, idPrefix: 'load-m' }, requestTimeoutMs: 10_000, playbackEventsPerRequest: 1 });
  t.same(valid.members, { count: 10 }, 'the input is not modified');
});

t.test('validation errors name the field', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ ...valid, members: { count: 0 } }, /members\.count must be >= 1/],
    [{ ...valid, members: { count: 10, zipf: -1 } }, /members\.zipf must be >= 0/],
    [{ ...valid, members: { count: 10, zipff: 1 } }, /members\.zipff is not a known field/],
    [{ ...valid, mix: { check: 1, acquier: 2 } }, /mix\.acquier is not a known field/],
    [{ ...valid, mix: { check: 0 } }, /mix must give at least one operation/],
    [{ ...valid, concurrency: 1.5 }, /concurrency must be integer/],
    [{ ...valid, titles: ['bad title'] }, /titles\.0 must match pattern/],
    [(({ maxRequests: _, ...rest }) => rest)(valid), /maxRequests is required/],
  ];
  for (const [raw, expected] of cases) {
    t.throws(() => parseScenario(raw), { name: 'ScenarioError', message: expected }, String(expected));
  }
  t.throws(() => applyOverrides(parseScenario(valid), { durationSeconds: 0 }), { message: /durationSeconds must be > 0/ }, 'overrides are validated too');
});

t.test('the shipped scenarios are valid', async (t) => {
  for (const name of ['smoke', 'mixed', 'sustained']) {
    const scenario = loadScenarioFile(fileURLToPath(new URL(`../../config/load/${name}.json`, import.meta.url)));
    t.equal(scenario.name, name);
  }
  const mixed = loadScenarioFile(fileURLToPath(new URL('../../config/load/mixed.json', import.meta.url)));
  t.match(mixed, { members: { count: 10_000, zipf: 1 }, durationSeconds: 60 });
  t.throws(() => loadScenarioFile('/nonexistent/scenario.json'), ScenarioError);
});

t.test('only loopback targets are accepted', async (t) => {
  for (const ok of ['http://127.0.0.1:3000', 'http://127.8.9.10:1', 'http://localhost:3000/', 'http://[::1]:3000', 'https://127.0.0.1']) {
    t.doesNotThrow(() => parseTarget(ok), ok);
  }
  t.equal(parseTarget('http://127.1:3000'), 'http://127.0.0.1:3000', 'short IPv4 forms are normalised, then checked');
  for (const refused of [
    'http://10.0.0.1:3000',
    'http://example.com',
    'http://128.0.0.1',
    'http://[::2]:1',
    'http://localhost.example.com',
    'http://0.0.0.0:3000',
    'http://[::ffff:10.0.0.1]',
  ]) {
    t.throws(() => parseTarget(refused), { name: 'TargetRefusedError', message: /not a loopback address/ }, refused);
  }
  t.throws(() => parseTargets([]), TargetRefusedError);
  t.throws(() => parseTargets(['http://127.0.0.1:1', 'http://127.0.0.1:1/']), { message: /given twice/ });
});

t.test('zipf sampling is skewed as asked and seeded draws repeat', async (t) => {
  const uniform = new ZipfSampler(4, 0);
  for (let k = 0; k < 4; k++) t.ok(Math.abs(uniform.probability(k) - 0.25) < 1e-12);
  const zipf = new ZipfSampler(1000, 1);
  t.ok(Math.abs(zipf.probability(0) / zipf.probability(1) - 2) < 1e-9, 'rank 1 is twice as likely as rank 2 at s = 1');
  const random = seededRandom(7);
  const hits = new Array<number>(1000).fill(0);
  const draws = 50_000;
  for (let i = 0; i < draws; i++) hits[zipf.sample(random)]! += 1;
  const expected = zipf.probability(0) * draws;
  t.ok(Math.abs((hits[0] ?? 0) - expected) < expected * 0.1, `the top member gets ~${expected.toFixed(0)} draws (${hits[0]})`);
  const a = seededRandom(42);
  const b = seededRandom(42);
  t.same(Array.from({ length: 5 }, a), Array.from({ length: 5 }, b), 'same seed, same stream');
  const picker = new WeightedPicker({ check: 1, acquire: 0 });
  const picks = new Set(Array.from({ length: 1000 }, () => picker.pick(random)));
  t.same([...picks], ['check'], 'a zero weight is never picked');
});

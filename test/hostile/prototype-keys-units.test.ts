/**
 * Prototype keys, place by place: each structure that keys on a string from outside (or from a
 * config file, or from another node's answer) takes every own property name of Object.prototype
 * and Function.prototype as an ordinary key, and leaves the prototypes as they were. The
 * end-to-end barrage is prototype-keys.test.ts; these pin each place down so a later change to
 * a `{}` fails here, by name.
 */
import t from 'tap';
import { ConfigError, parseConfig, parseRules } from '../../src/config/load.ts';
import { planRules, titlePolicy } from '../../src/domain/rules.ts';
import { isErrorCode } from '../../src/errors/catalog.ts';
import { TokenBuckets } from '../../src/http/rate-limit.ts';
import { OperationStats } from '../../src/load/stats.ts';
import { KeyedMailbox } from '../../src/service/keyed-mailbox.ts';
import { decodeEvent, EventDecodeError } from '../../src/store/codec/event-codec.ts';
import { testRules } from '../support/fixtures.ts';
import { hostileRules, PLAN_DEVICES, STUDIO_YEARLY_LIMIT } from './prototype-keys-barrage.ts';
import { PROTOTYPE_NAMES, prototypeChanges, prototypeSnapshot } from './prototype-keys-support.ts';

const before = prototypeSnapshot();
t.teardown(() => {
  // Checked once more after every test of this file has run.
  const changes = prototypeChanges(before);
  if (changes.length > 0) throw new Error(`prototypes changed: ${changes.join(', ')}`);
});

t.test('the rate limiter keeps one bucket per name', async (t) => {
  let now = 0;
  const buckets = new TokenBuckets({ perMemberPerSecond: 1, burst: 2 }, 1000, () => now);
  for (const name of PROTOTYPE_NAMES) {
    t.same([buckets.take(name), buckets.take(name)], [0, 0], `${name}: the burst is allowed`);
    t.ok(buckets.take(name) > 0, `${name}: then it is limited`);
  }
  t.equal(buckets.size, PROTOTYPE_NAMES.length, 'one bucket per name');
  now = 2000;
  t.equal(buckets.take('__proto__'), 0, 'a bucket refills');
  t.same(prototypeChanges(before), []);
});

t.test('the mailbox runs one name at a time and counts each name apart', async (t) => {
  const mailbox = new KeyedMailbox(2);
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const runs = PROTOTYPE_NAMES.flatMap((name) => [
    mailbox.run(name, async () => {
      await gate;
      order.push(`${name}:1`);
    }),
    mailbox.run(name, async () => {
      order.push(`${name}:2`);
    }),
  ]);
  t.equal(mailbox.activeKeys, PROTOTYPE_NAMES.length, 'one queue per name');
  await t.rejects(
    mailbox.run('__proto__', async () => {}),
    { code: 'OVERLOADED' },
    'each name has its own bound',
  );
  release();
  await Promise.all(runs);
  for (const name of PROTOTYPE_NAMES) t.ok(order.indexOf(`${name}:1`) < order.indexOf(`${name}:2`), `${name}: in order`);
  t.equal(mailbox.depth, 0);
  t.equal(mailbox.activeKeys, 0);
});

t.test('plans, studios and titles named after prototype properties are ordinary names', async (t) => {
  // Through JSON text, as a config file is read: JSON.parse makes `__proto__` an own key.
  const text = JSON.stringify({ rules: hostileRules('units-1') });
  const config = parseConfig(JSON.parse(text), null);
  const rules = parseRules(structuredClone(config.rules));
  for (const name of PROTOTYPE_NAMES) {
    t.same(planRules(rules, name), { plan: name, limits: { maxDownloadDevices: PLAN_DEVICES } }, `plan ${name}`);
    const policy = titlePolicy(rules, name);
    t.match(policy, { studioId: name, yearlyTitleLimit: STUDIO_YEARLY_LIMIT }, `title ${name} of studio ${name}`);
  }
  t.equal(planRules(rules, undefined)?.plan, '__proto__', 'the default plan may be named __proto__');

  const plain = testRules();
  for (const name of PROTOTYPE_NAMES) {
    t.equal(planRules(plain, name), undefined, `without it, plan ${name} is unknown`);
    t.equal(titlePolicy(plain, name).studioId, null, `without it, title ${name} has no studio`);
  }
});

t.test('a rules reference to a prototype property name that is not defined is refused', async (t) => {
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    const badStudio = { ...testRules(), titles: { t1: { studio: name } } };
    t.throws(() => parseRules(structuredClone(badStudio)), ConfigError, `a title of studio ${name}, which is not defined`);
    const badPlan = { ...testRules(), defaults: { ...testRules().defaults, plan: name } };
    t.throws(() => parseRules(structuredClone(badPlan)), ConfigError, `a default plan ${name}, which is not defined`);
  }
});

t.test('load-test counts keyed by the codes a service answers', async (t) => {
  const stats = new OperationStats();
  for (const name of PROTOTYPE_NAMES) {
    stats.record(1000, 409, name, name);
    stats.record(1000, 409, name, name);
  }
  const total = new OperationStats();
  total.merge(stats);
  const report = total.report(1);
  t.same(
    PROTOTYPE_NAMES.filter((name) => !Object.hasOwn(report.codes, name) || report.codes[name] !== 2 || report.reasons[`${name}:${name}`] !== 2),
    [],
    'every name is counted twice, as a code and as a reason',
  );
  total.destroy();
  stats.destroy();
});

t.test('stored rows and error codes are looked up as own names only', async (t) => {
  for (const name of PROTOTYPE_NAMES) {
    const row = {
      memberId: 'm',
      generation: 0,
      position: 1,
      aggregateName: 'license',
      aggregateId: 'l',
      at: 0,
      type: name,
      schemaVersion: 1,
      serializer: 'json',
      payload: '{}',
      rulesVersion: 'v',
      requestId: null,
      correlationId: null,
    };
    t.throws(() => decodeEvent(row), EventDecodeError, `an event type ${name} is unknown`);
    t.notOk(isErrorCode(name), `${name} is no error code`);
  }
});

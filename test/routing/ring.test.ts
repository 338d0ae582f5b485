/**
 * The ring (src/routing/ring.ts) with hostile keys and owners: every own property name of
 * Object.prototype and Function.prototype routes to a real owner and leaves the prototypes as
 * they were (hashring's plain-object cache once let the member `__proto__` write `before`,
 * `next` and `value` onto Object.prototype), owners with those names each get their share, and
 * ordinary members route exactly as they did before the fix (an upgrade moves no member).
 */
import t from 'tap';
import HashRing from 'hashring';
import { createRing } from '../../src/routing/ring.ts';
import { PROTOTYPE_NAMES, prototypeChanges, prototypeSnapshot } from '../hostile/prototype-keys-support.ts';

t.test('every prototype property name, as a key, routes to a real owner and leaves the prototypes alone', async (t) => {
  const before = prototypeSnapshot();
  t.ok(PROTOTYPE_NAMES.includes('__proto__') && PROTOTYPE_NAMES.includes('constructor') && PROTOTYPE_NAMES.includes('call'), 'the names come from both prototypes');
  for (const owners of [
    ['worker-0', 'worker-1'],
    ['n1', 'n2', 'n3'],
  ]) {
    const ring = createRing(owners);
    for (const name of PROTOTYPE_NAMES) {
      // Twice: the first lookup fills a cache, the second reads it.
      const first = ring.ownerOf(name);
      const second = ring.ownerOf(name);
      t.ok(owners.includes(first), `${name} routes to an owner (got ${String(first)})`);
      t.equal(second, first, `${name} routes to the same owner again`);
    }
  }
  t.same(prototypeChanges(before), [], 'Object.prototype and Function.prototype are unchanged');
  const plain: Record<string, unknown> = {};
  t.same([plain['before'], plain['next'], plain['value']], [undefined, undefined, undefined], 'a fresh object inherits no cache entry');
});

t.test('owners named after prototype properties each own a fair share of the keys', async (t) => {
  const before = prototypeSnapshot();
  const owners = [...PROTOTYPE_NAMES, 'plain-node'];
  const ring = createRing(owners, { vnodes: 160 });
  const counts = new Map<string, number>();
  const sample = 20_000;
  for (let i = 0; i < sample; i++) {
    const owner = ring.ownerOf(`member-${i}`);
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  t.same(
    [...counts.keys()].filter((owner) => !owners.includes(owner)),
    [],
    'every key goes to one of the owners, by its own name',
  );
  const fair = sample / owners.length;
  for (const owner of owners) {
    const share = counts.get(owner) ?? 0;
    t.ok(share > fair / 3 && share < fair * 3, `${owner} owns ${share} of ${sample} keys (fair: ${Math.round(fair)})`);
  }
  t.same(prototypeChanges(before), [], 'building and using the ring changed no prototype');
});

t.test('a ring of one owner named __proto__ owns every key', async (t) => {
  const ring = createRing(['__proto__']);
  for (const key of ['alice', '__proto__', 'constructor']) t.equal(ring.ownerOf(key), '__proto__');
});

t.test('ordinary members route exactly as hashring itself routes them (the fix moves no member)', async (t) => {
  for (const [owners, vnodes] of [
    [['worker-0', 'worker-1', 'worker-2', 'worker-3'], 160],
    [['n1', 'n2', 'n3'], 7],
    [['node-a', 'node-b'], 40],
  ] as const) {
    const ring = createRing(owners, { vnodes });
    const reference = new HashRing(Object.fromEntries(owners.map((owner) => [owner, { vnodes }])), 'md5');
    let differ = 0;
    for (let i = 0; i < 5000; i++) {
      const key = `member-${i}`;
      if (ring.ownerOf(key) !== reference.get(key)) differ += 1;
    }
    t.equal(differ, 0, `${owners.join(',')} at ${vnodes} vnodes: every key keeps its owner`);
  }
});

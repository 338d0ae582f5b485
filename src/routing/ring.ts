/**
 * A consistent hash ring with virtual nodes: maps a member id to the owner of its actor. Used
 * within a node to pick a worker thread, and (with the cluster) to pick a node. Backed by the
 * `hashring` package (ketama); NOT the package named `hash-ring`, which sends every key to one node.
 *
 * Keys are hostile (member ids come from URLs, and `__proto__` is a valid id), and hashring keeps
 * its lookup cache (simple-lru-cache) and its owner tables (connection-parse) in plain `{}`
 * objects, where a name of an Object.prototype property finds the prototype: one lookup of the
 * member `__proto__` wrote `before`, `next` and `value` onto Object.prototype for the whole
 * process, and an owner named `__proto__` got no point on the ring. So this boundary lets no
 * such name into those objects:
 * - a key is only hashed: `range(key, 1)` picks exactly the owner `get(key)` would, without
 *   touching hashring's cache. The mapping of every member is the same as before, so an upgrade
 *   moves no member (a moved member would be refused by its old owner's fence at the same epoch).
 *   Recent lookups are kept in our own LRU, a Map.
 * - an owner named like an Object.prototype property is escaped with a ':' prefix (as is one
 *   already starting with ':', so the escape stays one-to-one); node and worker ids never contain
 *   ':', so no escaped name can be another owner's. Every node runs this code: they agree.
 */
import HashRing from 'hashring';
import { LRUCache } from 'lru-cache';

export interface Ring {
  /** The owner of this key. */
  ownerOf(key: string): string;
  readonly owners: readonly string[];
}

export interface RingOptions {
  /** Virtual nodes per owner: more spread the keys more evenly (ketama's default is 40). */
  vnodes?: number;
}

const ESCAPE = ':';

/** The name an owner has inside hashring: never one a plain object already answers to. */
function escapeOwner(owner: string): string {
  return owner in Object.prototype || owner.startsWith(ESCAPE) ? `${ESCAPE}${owner}` : owner;
}

export function createRing(owners: readonly string[], options: RingOptions = {}): Ring {
  if (owners.length === 0) throw new Error('a ring needs at least one owner');
  const vnodes = options.vnodes ?? 160;
  const ownerOfEscaped = new Map(owners.map((owner) => [escapeOwner(owner), owner]));
  const ring = new HashRing(
    Object.fromEntries([...ownerOfEscaped.keys()].map((escaped) => [escaped, { vnodes }])),
    'md5',
    // hashring's own cache is never used (see above); keep it from allocating much.
    { 'max cache size': 1 },
  );
  // Members are many: keep the cache of recent lookups bounded.
  const recent = new LRUCache<string, string>({ max: 50_000 });
  return {
    owners: [...owners],
    ownerOf: (key) => {
      const known = recent.get(key);
      if (known !== undefined) return known;
      const escaped = ring.range(key, 1)[0];
      const owner = escaped === undefined ? undefined : ownerOfEscaped.get(escaped);
      if (owner === undefined) throw new Error(`the ring has no owner for key ${JSON.stringify(key)}`);
      recent.set(key, owner);
      return owner;
    },
  };
}

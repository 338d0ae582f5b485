/**
 * A consistent hash ring with virtual nodes: maps a member id to the owner of its actor. Used
 * within a node to pick a worker thread, and (with the cluster) to pick a node. Backed by the
 * `hashring` package (ketama); NOT the package named `hash-ring`, which sends every key to one node.
 */
import HashRing from 'hashring';

export interface Ring {
  /** The owner of this key. */
  ownerOf(key: string): string;
  readonly owners: readonly string[];
}

export interface RingOptions {
  /** Virtual nodes per owner: more spread the keys more evenly (ketama's default is 40). */
  vnodes?: number;
}

export function createRing(owners: readonly string[], options: RingOptions = {}): Ring {
  if (owners.length === 0) throw new Error('a ring needs at least one owner');
  const vnodes = options.vnodes ?? 160;
  const ring = new HashRing(
    Object.fromEntries(owners.map((owner) => [owner, { vnodes }])),
    'md5',
    // The lookup cache holds recent keys; members are many, so keep it bounded.
    { 'max cache size': 50_000 },
  );
  return {
    owners: [...owners],
    ownerOf: (key) => ring.get(key),
  };
}

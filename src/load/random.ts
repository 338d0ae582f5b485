/**
 * Seeded randomness for the load generator. A seed makes a run's sequence of members,
 * operations and titles repeatable, so two runs (or two builds) can be compared on the same
 * workload; Math.random cannot be seeded.
 */

/** A PRNG returning floats in [0, 1). */
export type Random = () => number;

/**
 * sfc32 seeded through splitmix32: small, fast, and passes PractRand far beyond what a load
 * test draws. splitmix spreads a small integer seed over the 128-bit state, so seeds 1 and 2
 * give unrelated streams.
 */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  // Discard a few outputs: the first ones of sfc32 still correlate with the seed.
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** A seed for runs that did not ask for one (recorded in the report, so the run can be repeated). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** The first index whose cumulative value is above `u`: the sample for a draw `u` in [0, total). */
function searchCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cdf[mid] as number) > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Zipf over ranks 0..n-1: P(rank k) is proportional to 1/(k+1)^s. s = 0 is uniform; s = 1 is
 * the classic "a few members do most of the traffic" skew. The CDF is computed once (8 bytes
 * per member) so each draw is a binary search, O(log n), with no rejection loop.
 */
export class ZipfSampler {
  private readonly cdf: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf: n must be a positive integer, got ${n}`);
    if (!(s >= 0)) throw new RangeError(`zipf: s must be >= 0, got ${s}`);
    this.cdf = new Float64Array(n);
    let total = 0;
    for (let k = 0; k < n; k++) {
      total += s === 0 ? 1 : 1 / Math.pow(k + 1, s);
      this.cdf[k] = total;
    }
    // Normalise so a draw in [0, 1) maps straight onto the table.
    for (let k = 0; k < n; k++) this.cdf[k] = (this.cdf[k] as number) / total;
    this.cdf[n - 1] = 1;
  }

  sample(random: Random): number {
    return searchCdf(this.cdf, random());
  }

  /** The probability of rank k (tests check the skew with it). */
  probability(k: number): number {
    const upper = this.cdf[k] ?? 0;
    const lower = k === 0 ? 0 : (this.cdf[k - 1] ?? 0);
    return upper - lower;
  }
}

/** Picks keys in proportion to their weights (zero weights are never picked). */
export class WeightedPicker<K extends string> {
  private readonly keys: K[];
  private readonly cdf: Float64Array;

  constructor(weights: Partial<Record<K, number>>) {
    this.keys = (Object.keys(weights) as K[]).filter((key) => (weights[key] ?? 0) > 0);
    if (this.keys.length === 0) throw new RangeError('weights: at least one weight must be above 0');
    this.cdf = new Float64Array(this.keys.length);
    let total = 0;
    this.keys.forEach((key, index) => {
      total += weights[key] ?? 0;
      this.cdf[index] = total;
    });
    for (let i = 0; i < this.cdf.length; i++) this.cdf[i] = (this.cdf[i] as number) / total;
    this.cdf[this.cdf.length - 1] = 1;
  }

  pick(random: Random): K {
    return this.keys[searchCdf(this.cdf, random())] as K;
  }
}

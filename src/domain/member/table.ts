/**
 * A member's aggregates of one kind, by id, with a Map's interface. Every value carries its own
 * id (`keyOf`, per kind of table), so the table keeps one array of values in insertion order and
 * no keys.
 *
 * Why not a Map: a V8 Map costs about 180 bytes empty and 30 to 50 bytes per entry on top of
 * the entries; a member holds three of them, each usually a handful of entries, and the cache's
 * byte budget is spent per member (bench/RESULTS.md, "Member state"). A short table's array is
 * kept at its exact length (slice, never filter or push, whose arrays keep spare room), so a
 * table of n entries costs about 100 + 8n bytes.
 *
 * Lookups scan the array: a member's tables are short (what the rules can still need, see
 * retention.ts), and a decision already walks its licenses. A table past INDEX_FROM entries
 * (a member with thousands of titles in a year) gets an index, so replay stays linear.
 */
const INDEX_FROM = 256;

/** The indexes of long tables, beside them: a field for it would cost every short table 8 bytes. */
const indexes = new WeakMap<Table<unknown>, Map<string, number>>();

/** A table of one kind of value: a subclass says what a value's id is. */
export abstract class Table<V> implements Map<string, V> {
  #values: V[] = [];

  constructor(values: readonly V[] = []) {
    for (const value of values) this.set(this.keyOf(value), value);
  }

  /** The id a value is kept under. */
  protected abstract keyOf(value: V): string;

  /** A new, empty table of the same kind. */
  protected abstract empty(): Table<V>;

  get size(): number {
    return this.#values.length;
  }

  get [Symbol.toStringTag](): string {
    return 'Table';
  }

  #find(key: string): number {
    if (this.#values.length >= INDEX_FROM) return this.#index().get(key) ?? -1;
    const values = this.#values;
    for (let i = 0; i < values.length; i++) if (this.keyOf(values[i] as V) === key) return i;
    return -1;
  }

  #index(): Map<string, number> {
    let index = indexes.get(this);
    if (index === undefined) {
      index = new Map<string, number>();
      for (const [i, value] of this.#values.entries()) index.set(this.keyOf(value), i);
      indexes.set(this, index);
    }
    return index;
  }

  get(key: string): V | undefined {
    const i = this.#find(key);
    return i < 0 ? undefined : this.#values[i];
  }

  has(key: string): boolean {
    return this.#find(key) >= 0;
  }

  /** `value` must carry `key` as its id. */
  set(key: string, value: V): this {
    const i = this.#find(key);
    if (i >= 0) {
      this.#values[i] = value;
      return this;
    }
    const values = this.#values;
    indexes.get(this)?.set(key, values.length);
    if (values.length >= INDEX_FROM) {
      values.push(value);
      return this;
    }
    // A short table is copied at its exact length: push would leave room for 16 more.
    const next = new Array<V>(values.length + 1);
    for (let j = 0; j < values.length; j++) next[j] = values[j] as V;
    next[values.length] = value;
    this.#values = next;
    return this;
  }

  delete(key: string): boolean {
    const i = this.#find(key);
    if (i < 0) return false;
    this.#values = this.#values.filter((_, j) => j !== i).slice();
    indexes.delete(this);
    return true;
  }

  clear(): void {
    this.#values = [];
    indexes.delete(this);
  }

  /** A new table of the values `keep` accepts, in the same order. */
  filter(keep: (value: V) => boolean): Table<V> {
    const table = this.empty();
    table.#values = this.#values.filter(keep).slice();
    return table;
  }

  /** A new table with each value replaced by `change(value)`, or dropped where it returns null. */
  map(change: (value: V) => V | null): Table<V> {
    const table = this.empty();
    const values: V[] = [];
    for (const value of this.#values) {
      const changed = change(value);
      if (changed !== null) values.push(changed);
    }
    table.#values = values.slice();
    return table;
  }

  forEach(callback: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    for (const value of this.#values) callback.call(thisArg, value, this.keyOf(value), this);
  }

  *entries(): MapIterator<[string, V]> {
    for (const value of this.#values) yield [this.keyOf(value), value];
  }

  *keys(): MapIterator<string> {
    for (const value of this.#values) yield this.keyOf(value);
  }

  values(): MapIterator<V> {
    return this.#values.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}

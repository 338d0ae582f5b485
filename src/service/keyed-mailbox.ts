/**
 * Runs tasks for one key strictly one after another, tasks for different keys concurrently:
 * one member's commands never interleave (decide, append and apply form one turn), while other
 * members proceed. A failed task does not block the ones queued behind it. Each key's queue is
 * bounded: past the bound a task is refused at once with OVERLOADED instead of growing memory.
 */
import { AppError } from '../errors/catalog.ts';

export class KeyedMailbox {
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #depths = new Map<string, number>();
  #queued = 0;

  constructor(private readonly maxQueuedPerKey: number = Number.POSITIVE_INFINITY) {}

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const depth = this.#depths.get(key) ?? 0;
    if (depth >= this.maxQueuedPerKey) {
      return Promise.reject(new AppError('OVERLOADED', `${depth} requests are already queued for member ${key}; retry later`));
    }
    this.#depths.set(key, depth + 1);
    this.#queued += 1;
    const previous = this.#tails.get(key);
    const result = previous ? previous.then(task) : task();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      this.#queued -= 1;
      const left = (this.#depths.get(key) ?? 1) - 1;
      if (left > 0) this.#depths.set(key, left);
      else this.#depths.delete(key);
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running. */
  get activeKeys(): number {
    return this.#tails.size;
  }

  /** Tasks queued or running, over all keys. */
  get depth(): number {
    return this.#queued;
  }

  /** Resolves once everything queued so far has finished. */
  async drain(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}

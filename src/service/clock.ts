/** Where the service reads time. The domain never does; it gets instants from here. */
import { isRepresentable, MAX_ISO, MIN_ISO } from '../domain/time-range.ts';

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that moves only when told to: for tests and demos (`"clock": "manual"`). It moves
 * backwards as well as forwards, but never outside the representable range (the admin route
 * refuses such a move with TIME_OUT_OF_RANGE before it gets here).
 */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: number) {
    this.#now = ManualClock.#checked(start);
  }
  now(): number {
    return this.#now;
  }
  set(at: number): void {
    this.#now = ManualClock.#checked(at);
  }
  advance(ms: number): void {
    this.#now = ManualClock.#checked(this.#now + ms);
  }
  static #checked(at: number): number {
    if (!isRepresentable(at)) throw new RangeError(`the manual clock must stay between ${MIN_ISO} and ${MAX_ISO}; got ${at}`);
    return at;
  }
}

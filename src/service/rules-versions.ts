/**
 * Every rules version put in force is kept in the store (first save wins), so the debug API can
 * explain an old decision with the rules it used. Best effort: a failed save is logged and the
 * service goes on (the current rules are always at hand for explaining the present).
 */
import type { RulesSource } from '../config/rules-source.ts';
import type { Rules } from '../domain/rules.ts';
import type { EventStore } from '../store/event-store.ts';
import type { Clock } from './clock.ts';
import type { Logger } from './logger.ts';

/** Saves the rules in force now and every version after; resolves, once the first is saved, with the unsubscribe. */
export async function keepRulesVersions(store: EventStore, rules: RulesSource, clock: Clock, log: Logger): Promise<() => void> {
  const remember = (next: Rules): Promise<void> =>
    store.saveRulesVersion(next.version, JSON.stringify(next), clock.now()).catch((error: unknown) => {
      log.warn({ err: error, rulesVersion: next.version }, 'could not save the rules version in the store');
    });
  await remember(rules.current());
  return rules.subscribe((next) => void remember(next));
}

/**
 * The rules in force, replaced atomically by hot reload. Readers take `current()` once per
 * decision, so one decision never mixes two rule sets, and the decision records the version.
 */
import { isDeepStrictEqual } from 'node:util';
import { statSync } from 'node:fs';
import type { Rules } from '../domain/rules.ts';
import { configFiles } from './config-file.ts';
import { parseConfig, readConfigFile } from './load.ts';

export type RulesChange = { outcome: 'applied'; version: string } | { outcome: 'unchanged' } | { outcome: 'refused'; message: string };

export class RulesSource {
  #current: Rules;
  readonly #listeners = new Set<(rules: Rules) => void>();

  /** Called with the new rules each time a change is applied (the actor pool pushes them to workers). */
  subscribe(listener: (rules: Rules) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  constructor(initial: Rules) {
    this.#current = initial;
  }

  current(): Rules {
    return this.#current;
  }

  /**
   * Puts new rules in force. Changed rules must carry a new version: decisions are explained
   * later by their rules version, so two different rule sets may never share one.
   */
  replace(next: Rules): RulesChange {
    if (isDeepStrictEqual(next, this.#current)) return { outcome: 'unchanged' };
    if (next.version === this.#current.version) {
      return { outcome: 'refused', message: `rules changed but rules.version is still "${next.version}"; give the new rules a new version` };
    }
    this.#current = next;
    for (const listener of this.#listeners) listener(next);
    return { outcome: 'applied', version: next.version };
  }

  /** Re-reads the config file; a file that does not validate leaves the last good rules in force. */
  reloadFrom(path: string): RulesChange {
    try {
      return this.replace(parseConfig(readConfigFile(path), path).rules);
    } catch (error) {
      return { outcome: 'refused', message: (error as Error).message };
    }
  }
}

export interface RulesLogger {
  info(object: object, message: string): void;
  error(object: object, message: string): void;
}

/**
 * Polls the config file, and the files it extends, for edits. Polling rather than fs.watch: editors and deploy tools
 * replace files by rename, which inotify-based watches lose track of. Not fs.watchFile either:
 * it takes its first reading asynchronously, so an edit made right after the watch starts
 * became its baseline and was never seen. Here the baseline is read before this returns.
 */
export function watchRulesFile(path: string, source: RulesSource, intervalMs: number, log: RulesLogger): () => void {
  const onChange = (): void => {
    const change = source.reloadFrom(path);
    if (change.outcome === 'applied') log.info({ rulesVersion: change.version }, 'rules reloaded');
    if (change.outcome === 'refused') log.error({ reason: change.message }, 'rules change refused; last good rules stay in force');
  };
  let seen = fingerprint(path);
  const timer = setInterval(() => {
    const now = fingerprint(path);
    if (now === seen) return;
    seen = now;
    onChange();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** What changes when the file or one it extends is edited or replaced. */
function fingerprint(path: string): string {
  return configFiles(path).map(fileFingerprint).join('|');
}

/** Null while the file is missing. */
function fileFingerprint(path: string): string | null {
  try {
    const stat = statSync(path);
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return null;
  }
}

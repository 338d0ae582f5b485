/**
 * Reading a config file. A file may start from another one with `"extends": "<path>"` (relative
 * to the file): config/cassandra.json is config/default.json with another store, and says only
 * that. Objects merge key by key, the file's keys over the base's; any other value the file gives
 * (a number, a string, an array, null) replaces the base's value whole.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A chain longer than this is a mistake (or a loop through differently spelled paths). */
const MAX_EXTENDS_DEPTH = 8;

/** The file's JSON with the files it extends merged under it, `extends` removed. */
export function readConfigFile(path: string): unknown {
  return readChain(path, []);
}

/**
 * The files a config is read from: the file, then the ones it extends. Polled for changes by the
 * rules watch; a file that cannot be read or parsed ends the list (reading the config says why).
 */
export function configFiles(path: string): string[] {
  const files: string[] = [];
  let next: string | null = resolve(path);
  while (next !== null && !files.includes(next) && files.length <= MAX_EXTENDS_DEPTH) {
    files.push(next);
    try {
      next = baseOf(next, readJson(next));
    } catch {
      next = null;
    }
  }
  return files;
}

function readChain(path: string, seen: readonly string[]): unknown {
  const raw = readJson(path);
  const base = baseOf(path, raw);
  if (base === null || !isObject(raw)) return raw;
  if (seen.includes(base) || base === resolve(path)) throw new ConfigError(`config file ${path} extends ${base}, which extends it back`);
  if (seen.length >= MAX_EXTENDS_DEPTH) throw new ConfigError(`config file ${path}: more than ${MAX_EXTENDS_DEPTH} files extend one another`);
  const { extends: _base, ...overlay } = raw;
  return merge(readChain(base, [...seen, resolve(path)]), overlay);
}

/** The absolute path a file extends, or null when it extends none. */
function baseOf(path: string, raw: unknown): string | null {
  if (!isObject(raw) || !Object.hasOwn(raw, 'extends')) return null;
  const base = raw['extends'];
  if (typeof base !== 'string' || base.length === 0) throw new ConfigError(`config file ${path}: "extends" must be the path of another config file`);
  return resolve(dirname(path), base);
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function merge(base: unknown, overlay: Record<string, unknown>): unknown {
  if (!isObject(base)) return overlay;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const under = Object.hasOwn(merged, key) ? merged[key] : undefined;
    // defineProperty, not assignment: a key named __proto__ (a studio, say) stays an own key.
    Object.defineProperty(merged, key, { value: isObject(value) && isObject(under) ? merge(under, value) : value, enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

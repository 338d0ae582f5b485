/**
 * Reads by purpose (docs/storage.md#reads-by-purpose). A store in tiers (the Cassandra store,
 * src/store/cassandra/tiers/) offers two more readers than its own real-time reads; these
 * helpers find them on any store (through the metrics proxy too) without loading its driver,
 * and give a single-tier store (SQLite) back as it is.
 */
import type { EventStore } from './event-store.ts';

/** What a load may fall back to when the real-time tier cannot be reached. */
export interface HasColdReader {
  coldReader(): EventStore;
}

/** A read-only view for debugging and audit: the whole history, from the archive first. */
export interface HasDebugView {
  debugView(): EventStore;
}

/** A store that moves sealed generations to its archive tier in the background. */
export interface HasArchiveSweeper {
  startSweeper(options: { intervalMs: number; members: number }): void;
}

export function coldReaderOf(store: EventStore): EventStore | null {
  const candidate = (store as Partial<HasColdReader>).coldReader;
  return typeof candidate === 'function' ? candidate.call(store) : null;
}

/** The store debug reads should use: a tiered store's debug view, any other store itself. */
export function debugReaderOf(store: EventStore): EventStore {
  const candidate = (store as Partial<HasDebugView>).debugView;
  return typeof candidate === 'function' ? candidate.call(store) : store;
}

/** Starts the archive sweeper of a tiered store; nothing for any other store. */
export function startArchiveSweeper(store: EventStore, options: { sweepSeconds: number; sweepMembers: number }): void {
  const candidate = (store as Partial<HasArchiveSweeper>).startSweeper;
  if (typeof candidate === 'function') candidate.call(store, { intervalMs: options.sweepSeconds * 1000, members: options.sweepMembers });
}

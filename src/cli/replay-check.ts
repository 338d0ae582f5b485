/**
 * `replay --check`: rebuilds every member from its events and compares the result with the
 * member's latest snapshot. A snapshot is only an optimisation of the fold (pruned of what no
 * decision can need, domain/member/retention.ts), so any difference is a bug (in a decider, an
 * upcaster, the codec, the pruning) or a damaged row, and is reported.
 */
import { pruneMemberStateThrough } from '../domain/member/retention.ts';
import type { MemberState } from '../domain/member/state.ts';
import { ReplayFold } from '../service/replay-fold.ts';
import { decodeMemberState, encodeMemberState } from '../store/codec/snapshot-codec.ts';
import { isVoidRow } from '../store/codec/void-codec.ts';
import type { EventStore, SnapshotRecord } from '../store/event-store.ts';

export type MemberCheck =
  | { memberId: string; outcome: 'match'; generation: number; position: number }
  | { memberId: string; outcome: 'no-snapshot' }
  | { memberId: string; outcome: 'mismatch'; generation: number; position: number; differences: string[] }
  | { memberId: string; outcome: 'error'; message: string };

/**
 * The rebuilt member up to the snapshot: every event of the generations before it. Voids are
 * honoured wherever they are: when a row cannot be used, the later generations are read for a
 * void naming it before the member is reported as an error.
 */
async function rebuildUpTo(store: EventStore, memberId: string, snapshot: SnapshotRecord): Promise<MemberState> {
  const fold = new ReplayFold();
  for (let generation = 0; generation < snapshot.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) {
      if (row.position <= snapshot.position) fold.add(row);
      else if (isVoidRow(row)) fold.noteVoid(row);
    }
  }
  if (fold.unvoided().length > 0) {
    const head = await store.readHead(memberId);
    for (let generation = snapshot.generation; generation <= head.generation; generation++) {
      for await (const row of store.readGeneration(memberId, generation)) if (isVoidRow(row)) fold.noteVoid(row);
    }
  }
  fold.finish();
  return fold.state;
}

/** Which parts differ, down to the aggregate ids, for the report. */
export function differences(expected: string, actual: string): string[] {
  const a = JSON.parse(expected) as Record<string, unknown>;
  const b = JSON.parse(actual) as Record<string, unknown>;
  const found: string[] = [];
  const idOf = (section: string, item: Record<string, unknown>): string =>
    String(item[section === 'licenses' ? 'licenseId' : section === 'downloaded' ? 'titleId' : section === 'devices' ? 'deviceId' : 'requestId']);
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key];
    const y = b[key];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (Array.isArray(x) && Array.isArray(y)) {
      const left = new Map(x.map((item: Record<string, unknown>) => [idOf(key, item), JSON.stringify(item)]));
      const right = new Map(y.map((item: Record<string, unknown>) => [idOf(key, item), JSON.stringify(item)]));
      for (const id of new Set([...left.keys(), ...right.keys()])) {
        if (!right.has(id)) found.push(`${key}/${id}: in the events, missing from the snapshot`);
        else if (!left.has(id)) found.push(`${key}/${id}: in the snapshot, not in the events`);
        else if (left.get(id) !== right.get(id)) found.push(`${key}/${id}: differs (events ${left.get(id)}, snapshot ${right.get(id)})`);
      }
    } else {
      found.push(`${key}: events ${JSON.stringify(x)}, snapshot ${JSON.stringify(y)}`);
    }
  }
  return found;
}

export async function checkMember(store: EventStore, memberId: string): Promise<MemberCheck> {
  try {
    const snapshot = await store.readLatestSnapshot(memberId);
    if (snapshot === null) return { memberId, outcome: 'no-snapshot' };
    const decoded = decodeMemberState(snapshot.schemaVersion, snapshot.payload);
    const rebuilt = await rebuildUpTo(store, memberId, snapshot);
    // A version 1 snapshot was never pruned; a newer one was pruned at its newest event, with
    // released licenses dropped through the instant it records: the rebuild is pruned alike.
    const expected = snapshot.schemaVersion === 1 ? rebuilt : pruneMemberStateThrough(rebuilt, rebuilt.lastEventAt, decoded.releasedPrunedThrough);
    const fromEvents = encodeMemberState(expected);
    const fromSnapshot = encodeMemberState(decoded);
    if (fromEvents === fromSnapshot) return { memberId, outcome: 'match', generation: snapshot.generation, position: snapshot.position };
    return { memberId, outcome: 'mismatch', generation: snapshot.generation, position: snapshot.position, differences: differences(fromEvents, fromSnapshot) };
  } catch (error) {
    return { memberId, outcome: 'error', message: (error as Error).message };
  }
}

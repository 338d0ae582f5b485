/**
 * `replay --check --against-legacy`: a member of the previous Cassandra layout rebuilt from its
 * old rows and from its copy in the compact layout (layout-migration.ts), compared.
 */
import { ReplayFold } from '../service/replay-fold.ts';
import { encodeMemberState } from '../store/codec/snapshot-codec.ts';
import type { EventStore } from '../store/event-store.ts';
import { differences } from './replay-check.ts';

/** differences() names its two sides "events" and "snapshot"; here they are the two layouts. */
function relabel(difference: string): string {
  return difference
    .replace(': in the events, missing from the snapshot', ': in the previous layout, missing from the compact layout')
    .replace(': in the snapshot, not in the events', ': in the compact layout, not in the previous layout')
    .replace(/: differs \(events (.*), snapshot (.*)\)$/, ': differs (previous layout $1, compact layout $2)')
    .replace(/^([a-zA-Z]+): events (.*), snapshot (.*)$/, '$1: previous layout $2, compact layout $3');
}

export type LayoutComparison =
  | { memberId: string; outcome: 'identical'; generation: number; position: number }
  | { memberId: string; outcome: 'different'; differences: string[] }
  | { memberId: string; outcome: 'error'; message: string };

/**
 * The member as every event up to `head` rebuilds it (voids honoured), encoded as a snapshot
 * would be; or, when a row no void covers cannot be used, that row's error (a member the previous
 * layout could not read must not be readable after the copy either, nor the other way round).
 */
async function rebuildTo(store: EventStore, memberId: string, head: { generation: number; position: number }): Promise<{ state: string } | { error: string }> {
  const fold = new ReplayFold();
  for (let generation = 0; generation <= head.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) if (row.position <= head.position) fold.add(row);
  }
  try {
    fold.finish();
  } catch (error) {
    return { error: (error as Error).message };
  }
  return { state: encodeMemberState(fold.state) };
}

/**
 * `replay --check --against-legacy`: a member rebuilt from its rows in the previous layout and
 * from its copy in the compact one, up to the previous layout's head (the service may have
 * appended since the migration). Identical states mean identical decisions: a decision is a pure
 * function of the state and the rules.
 */
export async function compareLayouts(before: EventStore, after: EventStore, memberId: string): Promise<LayoutComparison> {
  try {
    const head = await before.readHead(memberId);
    const [old, copy] = [await rebuildTo(before, memberId, head), await rebuildTo(after, memberId, head)];
    if ('state' in old && 'state' in copy) {
      if (old.state === copy.state) return { memberId, outcome: 'identical', generation: head.generation, position: head.position };
      return { memberId, outcome: 'different', differences: differences(old.state, copy.state).map(relabel) };
    }
    if ('error' in old && 'error' in copy && old.error === copy.error) return { memberId, outcome: 'identical', generation: head.generation, position: head.position };
    return {
      memberId,
      outcome: 'different',
      differences: [`previous layout: ${'error' in old ? old.error : 'readable'}; compact layout: ${'error' in copy ? copy.error : 'readable'}`],
    };
  } catch (error) {
    return { memberId, outcome: 'error', message: (error as Error).message };
  }
}

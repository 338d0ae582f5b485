/**
 * `repair <memberId> [--void <generation>:<position> --reason <text>]`: the operator's way out
 * for a member whose stored history cannot be read (every command answers EVENT_DECODE_FAILED).
 *
 * Without --void it lists the rows the fold cannot use, voided or not. With --void it appends an
 * `EventVoided` row naming one of them: a compensating row, never an edit. The append states the
 * head it read, like every command's (a concurrent writer makes it read again, a bounded number
 * of times), and the folds then skip the voided row (and the rows of its aggregate that only
 * applied on top of it). A row that reads fine cannot be voided: a business event is corrected by
 * a business command (a release), not by hiding it.
 */
import { randomUUID } from 'node:crypto';
import { presentLatestSnapshot } from '../service/history.ts';
import { ReplayFold, type FoldFailure } from '../service/replay-fold.ts';
import { encodeVoid } from '../store/codec/void-codec.ts';
import { isRepresentable } from '../domain/time-range.ts';
import type { EventRecord, EventStore, StreamHead } from '../store/event-store.ts';

export interface VoidTarget {
  generation: number;
  position: number;
}

const ATTEMPTS = 3;

/** Parses `<generation>:<position>`, or null. */
export function parseVoidTarget(text: string): VoidTarget | null {
  const match = /^(\d{1,9}):(\d{1,15})$/.exec(text);
  if (!match) return null;
  const target = { generation: Number(match[1]), position: Number(match[2]) };
  return target.position >= 1 ? target : null;
}

interface Scan {
  head: StreamHead;
  fold: ReplayFold;
  /** The row at the target, when one was asked for and found. */
  target: EventRecord | null;
  /** The newest representable time among the rows: a void is never stamped before it. */
  newestAt: number;
}

/** Folds the member's whole history (every generation, not from a snapshot), as the debug API does. */
async function scan(store: EventStore, memberId: string, wanted: VoidTarget | null): Promise<Scan> {
  const head = await store.readHead(memberId);
  const fold = new ReplayFold();
  let target: EventRecord | null = null;
  let newestAt = 0;
  for (let generation = 0; generation <= head.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) {
      fold.add(row);
      if (isRepresentable(row.at)) newestAt = Math.max(newestAt, row.at);
      if (wanted && row.generation === wanted.generation && row.position === wanted.position) target = row;
    }
  }
  return { head, fold, target, newestAt };
}

function describe(failure: FoldFailure, voided: boolean): Record<string, unknown> {
  const { row } = failure;
  return {
    generation: row.generation,
    position: row.position,
    type: row.type,
    schemaVersion: row.schemaVersion,
    aggregate: { name: row.aggregateName, id: row.aggregateId },
    error: failure.error.message,
    voided,
  };
}

export interface RepairOutput {
  /** JSON lines for stdout. */
  lines: Record<string, unknown>[];
  /** A message for stderr when the command failed. */
  problem: string | null;
  exitCode: number;
}

/** Lists the rows the fold cannot use; exit 1 while one is not voided. */
export async function listUnusableRows(store: EventStore, memberId: string): Promise<RepairOutput> {
  const { fold } = await scan(store, memberId, null);
  const open = new Set(fold.unvoided());
  const lines = fold.failures.map((f) => describe(f, !open.has(f)));
  // A snapshot this code cannot read needs no repair (loads replay the events), but say so.
  const latestSnapshot = await presentLatestSnapshot(store, memberId);
  lines.push({ memberId, unusableRows: fold.failures.length, notVoided: open.size, serviceable: open.size === 0, latestSnapshot });
  return { lines, problem: null, exitCode: open.size === 0 ? 0 : 1 };
}

/** Appends a void for the row at `wanted`, after checking that the fold really cannot use it. */
export async function voidRow(
  store: EventStore,
  memberId: string,
  wanted: VoidTarget,
  options: { reason: string; rulesVersion: string; now: () => number },
): Promise<RepairOutput> {
  for (let attempt = 1; ; attempt++) {
    const before = await scan(store, memberId, wanted);
    const label = `row ${wanted.generation}:${wanted.position} of member ${memberId}`;
    if (before.target === null) return { lines: [], problem: `${label} does not exist`, exitCode: 1 };
    const failure = before.fold.failures.find((f) => f.row.generation === wanted.generation && f.row.position === wanted.position);
    if (failure === undefined) {
      return { lines: [], problem: `${label} (${before.target.type}) reads and applies fine; correct it with a command, not a void`, exitCode: 1 };
    }
    if (!before.fold.unvoided().includes(failure)) {
      return { lines: [{ memberId, ...describe(failure, true), outcome: 'already voided' }], problem: null, exitCode: 0 };
    }
    const row = encodeVoid(before.target, {
      // Never before the member's newest row: a member's rows keep their order in time.
      at: Math.max(options.now(), before.newestAt),
      reason: options.reason,
      rulesVersion: options.rulesVersion,
      correlationId: `repair:${randomUUID()}`,
    });
    try {
      const head = await store.append(memberId, before.head, [row]);
      const after = await scan(store, memberId, null);
      const remaining = after.fold.unvoided();
      return {
        lines: [
          {
            memberId,
            outcome: 'voided',
            voided: describe(failure, true),
            void: { generation: head.generation, position: head.position },
            notVoided: remaining.map((f) => ({ generation: f.row.generation, position: f.row.position, type: f.row.type })),
            serviceable: remaining.length === 0,
          },
        ],
        problem: null,
        exitCode: 0,
      };
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'STORE_CONFLICT' || attempt >= ATTEMPTS) throw error;
      // Another writer moved the head since the scan: read again and decide again.
    }
  }
}

/**
 * The one fold of stored rows into a member's state, shared by the actors' loads, the debug
 * API and the replay check, so that all of them honour voids (`EventVoided`) the same way.
 *
 * A row that cannot be decoded or applied does not stop the fold at once: a void naming it comes
 * later in reading order (it is appended at the head, possibly in a later generation). Such a row
 * is set aside and the fold goes on; `finish()` then throws the first one no void covers. A voided row is skipped, and so are the rows of its aggregate that no longer
 * apply without it (a renewal of a license whose acquisition was voided): the member is rebuilt
 * as if the voided row had never been written.
 */
import type { DomainEvent } from '../domain/events.ts';
import { applyEvent, initialMemberState, type MemberState } from '../domain/member/state.ts';
import { decodeEvent, EventDecodeError, metadataOf } from '../store/codec/event-codec.ts';
import { decodeVoid, isVoidRow, voidKey } from '../store/codec/void-codec.ts';
import type { EventRecord } from '../store/event-store.ts';

/** A row the fold could not use. `dependsOn`: the earlier failed row of its aggregate it could not apply without. */
export interface FoldFailure {
  row: EventRecord;
  error: EventDecodeError;
  dependsOn: string | null;
}

/** A void as the fold keeps it: where the void row itself is, and why the operator wrote it. */
export interface VoidRef {
  generation: number;
  position: number;
  reason: string;
}

/** A row left out of the state, and the void that allowed it. */
export interface SkippedRow {
  generation: number;
  position: number;
  type: string;
  error: string;
  voidedBy: VoidRef;
}

export class ReplayFold {
  readonly state: MemberState;
  readonly #voids = new Map<string, VoidRef>();
  readonly #failures: FoldFailure[] = [];
  /** Aggregate (name/id) -> the first failed row in it, by voidKey. */
  readonly #failedAggregates = new Map<string, string>();

  constructor(state: MemberState = initialMemberState()) {
    this.state = state;
  }

  /** Folds one row (in replay order). Returns the event when it was applied, null otherwise. */
  add(row: EventRecord): DomainEvent | null {
    if (isVoidRow(row)) {
      this.noteVoid(row);
      return null;
    }
    const aggregate = `${row.aggregateName}/${row.aggregateId}`;
    let event: DomainEvent;
    try {
      event = decodeEvent(row);
    } catch (error) {
      this.#fail(row, aggregate, asDecodeError(row, error), null);
      return null;
    }
    try {
      applyEvent(this.state, event, metadataOf(row));
    } catch (error) {
      // Applying throws before it changes anything (an event for a license never acquired).
      this.#fail(row, aggregate, new EventDecodeError(row, (error as Error).message, 'apply'), this.#failedAggregates.get(aggregate) ?? null);
      return null;
    }
    return event;
  }

  /** Records a void without folding anything else (a replay check reading past its snapshot). */
  noteVoid(row: EventRecord): void {
    try {
      const voided = decodeVoid(row);
      this.#voids.set(voidKey(voided.generation, voided.position), { generation: row.generation, position: row.position, reason: voided.reason });
    } catch (error) {
      this.#fail(row, `${row.aggregateName}/${row.aggregateId}`, asDecodeError(row, error), null);
    }
  }

  get failures(): readonly FoldFailure[] {
    return this.#failures;
  }

  /** The failures no void covers (the first is what finish() throws). */
  unvoided(): FoldFailure[] {
    return this.#failures.filter((f) => this.#voidOf(f) === undefined);
  }

  /** Throws the first row no void covers; otherwise returns the rows left out. */
  finish(): SkippedRow[] {
    const [first] = this.unvoided();
    if (first) throw first.error;
    return this.#failures.map((f) => ({
      generation: f.row.generation,
      position: f.row.position,
      type: f.row.type,
      error: f.error.message,
      voidedBy: this.#voidOf(f) as VoidRef,
    }));
  }

  #voidOf(failure: FoldFailure): VoidRef | undefined {
    return this.#voids.get(voidKey(failure.row.generation, failure.row.position)) ?? (failure.dependsOn === null ? undefined : this.#voids.get(failure.dependsOn));
  }

  #fail(row: EventRecord, aggregate: string, error: EventDecodeError, dependsOn: string | null): void {
    this.#failures.push({ row, error, dependsOn });
    if (!this.#failedAggregates.has(aggregate)) this.#failedAggregates.set(aggregate, voidKey(row.generation, row.position));
  }
}

function asDecodeError(row: EventRecord, error: unknown): EventDecodeError {
  return error instanceof EventDecodeError ? error : new EventDecodeError(row, (error as Error).message);
}

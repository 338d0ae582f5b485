/**
 * Time travel over a member's events, for the debug API and the operator CLI.
 *
 * Everything here is rebuilt from the stored events alone, never from the live state in an
 * actor or from snapshots: it shows what the service believed at an instant. The store reads
 * go generation by generation, page by page; the folds and the explanation are pure functions.
 *
 * Order: events come out in member-wide order, generation by generation and by position inside
 * a generation (the order decisions were taken in), which is the order the store returns them
 * in: they are streamed page by page, never held whole.
 */
import type { LicenseState } from '../domain/aggregates/license.ts';
import { eventKey, type Counted } from '../domain/limits/counting.ts';
import { firstRefusal } from '../domain/limits/index.ts';
import { evaluateAcquire } from '../domain/member/decide.ts';
import type { MemberState } from '../domain/member/state.ts';
import type { Refusal } from '../domain/refusal.ts';
import { isUnknownPlan, type Rules } from '../domain/rules.ts';
import { iso, type Instant } from '../domain/time.ts';
import { parseRules } from '../config/load.ts';
import { isRepresentable } from '../domain/time-range.ts';
import { AppError, isErrorCode } from '../errors/catalog.ts';
import { publicMessage } from '../errors/public-message.ts';
import { decodeEvent } from '../store/codec/event-codec.ts';
import { decodeMemberState } from '../store/codec/snapshot-codec.ts';
import { decodeVoid, isVoidRow } from '../store/codec/void-codec.ts';
import type { EventRecord, EventStore } from '../store/event-store.ts';
import { ReplayFold, type SkippedRow } from './replay-fold.ts';

export interface EventFilter {
  /** Only this aggregate name (license, downloaded, device). */
  aggregate?: string | undefined;
  /** Only this aggregate id. */
  aggregateId?: string | undefined;
  /** Only events at or after this instant. */
  from?: Instant | undefined;
  /** Only events at or before this instant. */
  to?: Instant | undefined;
}

function matches(row: EventRecord, filter: EventFilter): boolean {
  if (filter.aggregate !== undefined && row.aggregateName !== filter.aggregate) return false;
  if (filter.aggregateId !== undefined && row.aggregateId !== filter.aggregateId) return false;
  if (filter.from !== undefined && row.at < filter.from) return false;
  if (filter.to !== undefined && row.at > filter.to) return false;
  return true;
}

/** The member's stored events across every generation, in member-wide order, filtered. */
export async function* memberEvents(store: EventStore, memberId: string, filter: EventFilter = {}): AsyncGenerator<EventRecord> {
  const head = await store.readHead(memberId);
  for (let generation = 0; generation <= head.generation; generation++) {
    for await (const row of store.readGeneration(memberId, generation)) if (matches(row, filter)) yield row;
  }
}

/** One event as the debug API shows it. A row this code cannot decode is shown raw, with the reason. */
export function presentEvent(row: EventRecord): Record<string, unknown> {
  const shown: Record<string, unknown> = {
    position: row.position,
    generation: row.generation,
    type: row.type,
    schemaVersion: row.schemaVersion,
    // A time outside the range cannot be a date-time: shown as its milliseconds, still a string.
    at: isRepresentable(row.at) ? iso(row.at) : String(row.at),
    aggregate: { name: row.aggregateName, id: row.aggregateId },
    rulesVersion: row.rulesVersion,
    requestId: row.requestId,
    correlationId: row.correlationId ?? null,
  };
  try {
    if (isVoidRow(row)) {
      shown['data'] = decodeVoid(row);
    } else {
      const { type: _type, at: _at, ...data } = decodeEvent(row) as unknown as Record<string, unknown>;
      shown['data'] = data;
    }
  } catch (error) {
    shown['payload'] = row.payload;
    shown['decodeError'] = (error as Error).message;
  }
  return shown;
}

/**
 * The member's latest snapshot row and whether this code can use it. Loads skip a snapshot they
 * cannot read and replay the events instead; this is where an operator sees why. The payload is
 * shown only then (as the events route shows an undecodable event's).
 */
export async function presentLatestSnapshot(store: EventStore, memberId: string): Promise<Record<string, unknown> | null> {
  const snapshot = await store.readLatestSnapshot(memberId);
  if (snapshot === null) return null;
  const shown: Record<string, unknown> = {
    generation: snapshot.generation,
    position: snapshot.position,
    takenAt: isRepresentable(snapshot.takenAt) ? iso(snapshot.takenAt) : snapshot.takenAt,
    schemaVersion: snapshot.schemaVersion,
  };
  try {
    decodeMemberState(snapshot.schemaVersion, snapshot.payload);
    shown['usable'] = true;
  } catch (error) {
    shown['usable'] = false;
    shown['payload'] = snapshot.payload;
    shown['decodeError'] = (error as Error).message;
  }
  return shown;
}

/** Where an event sits in the history, for pointing at the events that count toward a limit. */
export interface EventRef {
  position: number;
  generation: number;
  type: string;
  at: Instant;
}

export interface MemberStateAt {
  at: Instant;
  state: MemberState;
  /** Events folded (those with at <= the instant). */
  eventsApplied: number;
  /** The newest folded event, by time then position; null when none. */
  lastEvent: (EventRef & { rulesVersion: string }) | null;
  /** Where each event that can count toward a limit sits, by its eventKey (the limits' counts name them so). */
  eventRefs: Map<string, EventRef>;
  /** The fold, which set aside the rows it could not use (see ReplayFold). */
  fold: ReplayFold;
  /** Rows left out because a void names them (or the voided row they depended on); set by finish. */
  skipped: SkippedRow[];
}

/**
 * Pure fold: applies the rows with at <= `at` (in the order given) to an empty member. Voids
 * count whatever their time (a row unreadable now was unreadable then); a row that cannot be
 * used and is not voided throws (EVENT_DECODE_FAILED).
 */
export function foldUntil(rows: Iterable<EventRecord>, at: Instant): MemberStateAt {
  const result = emptyStateAt(at);
  for (const row of rows) foldRow(result, row);
  return finishStateAt(result);
}

function emptyStateAt(at: Instant): MemberStateAt {
  const fold = new ReplayFold();
  return { at, state: fold.state, eventsApplied: 0, lastEvent: null, eventRefs: new Map(), fold, skipped: [] };
}

function finishStateAt(result: MemberStateAt): MemberStateAt {
  result.skipped = result.fold.finish();
  return result;
}

function foldRow(result: MemberStateAt, row: EventRecord): void {
  if (isVoidRow(row)) {
    result.fold.noteVoid(row);
    return;
  }
  if (row.at > result.at) return;
  const event = result.fold.add(row);
  if (event === null) return;
  result.eventsApplied += 1;
  const ref: EventRef = { position: row.position, generation: row.generation, type: row.type, at: row.at };
  const last = result.lastEvent;
  if (last === null || row.at > last.at || (row.at === last.at && row.position > last.position)) result.lastEvent = { ...ref, rulesVersion: row.rulesVersion };
  const key = eventKey(event);
  if (key !== null) result.eventRefs.set(key, ref);
}

/** The member as of `at`, rebuilt from every generation's events (not from snapshots). */
export async function memberStateAt(store: EventStore, memberId: string, at: Instant): Promise<MemberStateAt> {
  const result = emptyStateAt(at);
  const head = await store.readHead(memberId);
  for (let generation = 0; generation <= head.generation; generation++) {
    // Position order: the order the repository replays in, and the service applied them in.
    for await (const row of store.readGeneration(memberId, generation)) foldRow(result, row);
  }
  return finishStateAt(result);
}

function presentLicense(l: LicenseState): Record<string, unknown> {
  return {
    ...l,
    acquiredAt: iso(l.acquiredAt),
    expiresAt: iso(l.expiresAt),
    releasedAt: l.releasedAt === null ? null : iso(l.releasedAt),
  };
}

/** Every aggregate of the member, times as ISO strings, sorted by id. */
export function presentState(memberId: string, rebuilt: MemberStateAt): Record<string, unknown> {
  const byKey = <T>(map: Map<string, T>): T[] => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  const { state } = rebuilt;
  return {
    memberId,
    at: iso(rebuilt.at),
    eventsApplied: rebuilt.eventsApplied,
    lastEvent: rebuilt.lastEvent === null ? null : { ...rebuilt.lastEvent, at: iso(rebuilt.lastEvent.at) },
    licenses: byKey(state.licenses).map((l) => ({ ...presentLicense(l), expired: l.releasedAt === null && l.expiresAt <= rebuilt.at })),
    downloaded: byKey(state.downloaded).map((d) => ({
      titleId: d.titleId,
      downloads: d.downloads.map((x) => ({ at: iso(x.at), licenseId: x.licenseId, via: x.via })),
    })),
    devices: byKey(state.devices).map((d) => ({
      deviceId: d.deviceId,
      status: d.status,
      registeredAt: iso(d.registeredAt),
      deactivations: d.deactivations.map(iso),
    })),
    // Rows a void left out of this state (each with the void that names it); usually none.
    skippedRows: rebuilt.skipped.map((r) => ({ generation: r.generation, position: r.position, type: r.type, error: r.error, voidedBy: r.voidedBy })),
  };
}

/**
 * The rules version in force for this member at `at`: the rules version recorded on the
 * member's newest event at or before `at` (the version its last decision used). A member with
 * no event by then has no recorded version: `fallback` (the caller's rules in force now) is
 * used. A rules change after the member's last event and before `at` is not visible in the
 * member's events; pass an explicit version to explain under it.
 */
export function rulesVersionAt(rebuilt: MemberStateAt, fallback: string): { version: string; source: 'member-events' | 'current' } {
  return rebuilt.lastEvent ? { version: rebuilt.lastEvent.rulesVersion, source: 'member-events' } : { version: fallback, source: 'current' };
}

export interface ExplainInput {
  deviceId: string;
  titleId: string;
  plan?: string | undefined;
}

export interface Explanation {
  allowed: boolean;
  reason?: Refusal['reason'];
  message?: string;
  details?: Refusal['details'];
  rulesVersion: string;
  at: string;
  /** The plan, the title's studio, and each limit that applies, by its config key. */
  limits: Record<string, string | number | null>;
  /** What counts toward each limit, by its config key, each count with the event behind it. */
  counting: Record<string, unknown[]>;
}

function ref(r: EventRef | undefined): Record<string, unknown> | null {
  return r === undefined ? null : { position: r.position, generation: r.generation, type: r.type, at: iso(r.at) };
}

/** One count as the explanation shows it, with where its event sits in the history. */
function presentCounted(item: Counted, refs: Map<string, EventRef>): Record<string, unknown> {
  const event = (key: string) => ref(refs.get(key));
  switch (item.kind) {
    case 'license': {
      const l: LicenseState = item.license;
      return { licenseId: l.licenseId, deviceId: l.deviceId, titleId: l.titleId, acquiredAt: iso(l.acquiredAt), event: event(item.event) };
    }
    case 'device':
      return { deviceId: item.deviceId, licenses: item.licenses.map((l) => presentCounted(l, refs)) };
    case 'download':
      return { at: iso(item.download.at), licenseId: item.download.licenseId, via: item.download.via, event: event(item.event) };
    case 'renewal':
      return { licenseId: item.licenseId, renewals: item.renewals, event: event(item.event) };
    case 'deactivation':
      return { deviceId: item.deviceId, at: iso(item.at), event: event(item.event) };
  }
}

/**
 * Pure: what an acquire of `input` would have decided at the rebuilt instant under `rules`,
 * with every limit that applies and the events that count toward each: the decider's own
 * evaluation, presented. Throws UNKNOWN_PLAN for a plan the rules do not define.
 */
export function explainAcquire(rebuilt: MemberStateAt, rules: Rules, input: ExplainInput): Explanation {
  const now = rebuilt.at;
  const evaluated = evaluateAcquire(
    { type: 'AcquireLicense', now, licenseId: 'explain', deviceId: input.deviceId, titleId: input.titleId, plan: input.plan },
    rebuilt.state,
    rules,
  );
  if (isUnknownPlan(evaluated)) throw new AppError('UNKNOWN_PLAN', evaluated.message, { field: 'querystring.plan' });
  const { policy, evaluations } = evaluated;
  const limits: Explanation['limits'] = { plan: policy.plan.plan, studioId: policy.title.studioId };
  const counting: Explanation['counting'] = {};
  for (const evaluation of evaluations) {
    limits[evaluation.name] = evaluation.limit;
    counting[evaluation.name] = evaluation.counting.map((item) => presentCounted(item, rebuilt.eventRefs));
  }
  const base = { rulesVersion: rules.version, at: iso(now), limits, counting };
  const refusal = firstRefusal(evaluations);
  if (refusal !== null) return { allowed: false, reason: refusal.reason, message: refusal.message, details: refusal.details, ...base };
  return { allowed: true, ...base };
}

/**
 * The rules of a saved version. The rules in force now are used as they are when their version
 * is the one asked for (they may not be saved yet if the store was unreachable at start).
 */
export async function loadRules(store: EventStore, version: string, current: Rules): Promise<Rules> {
  if (version === current.version) return current;
  const saved = await store.readRulesVersion(version);
  if (saved === null) {
    throw new AppError('RULES_VERSION_NOT_FOUND', `rules version "${version}" was never saved in the store`, { field: 'rulesVersion' });
  }
  // Saved when they were in force, so valid then; validated again for their type (and the
  // defaults of keys added since).
  return parseRules(JSON.parse(saved.rulesJson));
}

/**
 * The event lines of a member's history, one JSON text per event. A failure part-way (the
 * store went away) cannot change the status any more: it ends the stream with an `error` line.
 */
export async function* eventLines(store: EventStore, memberId: string, filter: EventFilter): AsyncGenerator<string> {
  try {
    for await (const row of memberEvents(store, memberId, filter)) yield JSON.stringify(presentEvent(row));
  } catch (error) {
    const raw = (error as { code?: unknown }).code;
    const code = typeof raw === 'string' && isErrorCode(raw) ? raw : 'INTERNAL';
    // The stream's last line is an answer like any other: no driver text, path or CQL in it.
    yield JSON.stringify({ error: { code, message: publicMessage(code, (error as Error).message).message } });
  }
}

/** Rebuilds the member at `at`, finds the rules version in force then, and explains an acquire. Shared with the CLI. */
export async function explainAt(
  deps: { store: EventStore; rules: () => Rules },
  memberId: string,
  input: { deviceId: string; titleId: string; plan?: string | undefined },
  at: number,
  explicitRulesVersion?: string,
): Promise<Record<string, unknown>> {
  const rebuilt = await memberStateAt(deps.store, memberId, at);
  const current = deps.rules();
  const chosen = explicitRulesVersion !== undefined ? { version: explicitRulesVersion, source: 'requested' as const } : rulesVersionAt(rebuilt, current.version);
  const rules = await loadRules(deps.store, chosen.version, current);
  return { memberId, ...explainAcquire(rebuilt, rules, input), rulesVersionSource: chosen.source };
}

/**
 * The application service: runs member commands through the pure decider, stores the events,
 * and answers checks. One member's commands run one at a time (a mailbox per member); loaded
 * members stay in memory (an LRU bounded by entry count) so checks need no store round trip.
 * It runs in this thread (`actors.workers` 0) or, one per worker thread, under the actor pool.
 */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { LicenseState } from '../domain/aggregates/license.ts';
import type { AcquireLicense, DeactivateDevice, MemberCommand, RecordPlayback, ReleaseLicense, RenewLicense } from '../domain/member/commands.ts';
import type { CommandAnswer } from '../domain/member/answers.ts';
import { decide, decideAcquire } from '../domain/member/decide.ts';
import { activeLicenses } from '../domain/member/state.ts';
import type { DomainEvent } from '../domain/events.ts';
import { isRefusal, type Refusal } from '../domain/refusal.ts';
import { firstUnrepresentableTime, MAX_ISO, MIN_ISO } from '../domain/time-range.ts';
import { isUnknownPlan, resolvePlan, type Rules, type UnknownPlan } from '../domain/rules.ts';
import type { RulesSource } from '../config/rules-source.ts';
import { AppError, StoreUnavailableError } from '../errors/catalog.ts';
import type { Clock } from './clock.ts';
import { KeyedMailbox } from './keyed-mailbox.ts';
import { HOT_TIER_UNAVAILABLE, MemberRepository, type LoadedMember } from './member-repository.ts';
import type { ServiceConfig } from '../config/types.ts';
import type { EventStore, OwnershipFence } from '../store/event-store.ts';
import type { MemberActors, ShippedMember } from './license-port.ts';

/** A command as the edge sends it: the service stamps the time and mints new license ids. */
export type CommandInput =
  Omit<AcquireLicense, 'now' | 'licenseId'> | Omit<RenewLicense, 'now'> | Omit<ReleaseLicense, 'now'> | Omit<RecordPlayback, 'now'> | Omit<DeactivateDevice, 'now'>;

export type CommandResult = { outcome: 'done'; answer: CommandAnswer; repeated: boolean; rulesVersion: string } | { outcome: 'refused'; refusal: Refusal; rulesVersion: string };

export type CheckResult =
  | { allowed: true; rulesVersion: string; degraded?: typeof UNDECODABLE_HISTORY | typeof HOT_TIER_UNAVAILABLE }
  | { allowed: false; reason: Refusal['reason']; message: string; details: Refusal['details']; rulesVersion: string; degraded?: typeof HOT_TIER_UNAVAILABLE };

/**
 * How long a member loaded from the cold tier (hot unreachable) serves checks before a request
 * tries hot again: the service recovers by itself once hot is back.
 */
const DEGRADED_RETRY_MS = 1000;

/**
 * A check of a member whose stored history cannot be read (EVENT_DECODE_FAILED) answers what the
 * edge client's fallback would (allowed, as for a member with no licenses), marked with this:
 * the service cannot decide, and a member is never punished for the service's own damage.
 */
export const UNDECODABLE_HISTORY = 'undecodable-history';
export const DEGRADED_CHECK_LOG = "check answered allowed (degraded): the member's stored history cannot be read; see the row in the error, void it with license-accounting repair";

export interface CheckInput {
  deviceId: string;
  titleId: string;
  plan?: string | undefined;
}

/** The answer of an operator's "snapshot now": the member's head after it. */
export interface SnapshotResult {
  memberId: string;
  /** False when there was nothing to snapshot: no events, or none since the latest snapshot. */
  taken: boolean;
  generation: number;
  position: number;
}

export interface ServiceStats {
  membersInMemory: number;
  /** Approximate bytes of the members in memory (see approximateMemberBytes). */
  approximateBytes: number;
  /** Commands queued or running over all members. */
  mailboxDepth: number;
  loads: number;
  cacheHits: number;
  /** Members put in memory from a shipment (live migration), with no store read. */
  installs: number;
}

export interface LicenseServiceOptions {
  repository: MemberRepository;
  rules: RulesSource;
  clock: Clock;
  maxMembersInMemory: number;
  /** Bound on the approximate bytes of the members in memory (default: no bound beyond the count). */
  maxBytesInMemory?: number;
  /** Commands queued for one member beyond which new ones are refused with OVERLOADED. */
  maxQueuedPerMember?: number;
  /** How many times a command is re-decided after another writer moved the member's head. */
  conflictRetries: number;
  newLicenseId?: () => string;
  /**
   * The fence this node loads a member with (cluster): read when a request arrives, so a
   * command queued behind a ring change still loads with the fence of the ring it was routed
   * by. Throws (OWNERSHIP_MOVED) for a member this node does not own. Absent: single node, no
   * fencing.
   */
  ownership?: (memberId: string) => OwnershipFence | null;
  /** Told of every check answered with the fallback because the member's history cannot be read. */
  onDegradedCheck?: (memberId: string, error: unknown) => void;
}

export class LicenseService implements MemberActors {
  readonly #options: LicenseServiceOptions;
  readonly #members: LRUCache<string, LoadedMember>;
  readonly #mailbox: KeyedMailbox;
  readonly #newLicenseId: () => string;
  readonly #counters = { loads: 0, cacheHits: 0, installs: 0 };
  /** Members announced by their old owner and not installed yet: their requests wait for them. */
  readonly #incoming = new Map<string, Incoming>();

  constructor(options: LicenseServiceOptions) {
    this.#options = options;
    this.#members = new LRUCache<string, LoadedMember>({
      max: options.maxMembersInMemory,
      ...(options.maxBytesInMemory ? { maxSize: options.maxBytesInMemory, sizeCalculation: (member) => approximateMemberBytes(member) } : {}),
    });
    this.#mailbox = new KeyedMailbox(options.maxQueuedPerMember);
    this.#newLicenseId = options.newLicenseId ?? mintLicenseId;
  }

  stats(): ServiceStats {
    return {
      membersInMemory: this.#members.size,
      approximateBytes: this.#members.calculatedSize ?? 0,
      mailboxDepth: this.#mailbox.depth,
      ...this.#counters,
    };
  }

  /** `fence`: given by the actor pool (read where the request was routed); else this service's own. */
  async execute(memberId: string, input: CommandInput, fence?: OwnershipFence | null): Promise<CommandResult> {
    // No await before the mailbox: a member's commands enter it in the order they arrive.
    const owned = this.#fenceFor(memberId, fence);
    return this.#mailbox.run(memberId, () => this.#executeInTurn(memberId, input, owned));
  }

  async check(memberId: string, input: CheckInput, fence?: OwnershipFence | null): Promise<CheckResult> {
    let member: LoadedMember;
    try {
      member = await this.#member(memberId, this.#fenceFor(memberId, fence));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EVENT_DECODE_FAILED') throw error;
      const rules = this.#options.rules.current();
      requireKnownPlan(rules, input.plan);
      this.#options.onDegradedCheck?.(memberId, error);
      return { allowed: true, rulesVersion: rules.version, degraded: UNDECODABLE_HISTORY };
    }
    const rules = this.#options.rules.current();
    // Answered from cold data (hot unreachable): a real answer, marked as possibly behind.
    const marked = member.degraded ? { degraded: member.degraded } : {};
    const decision = decideAcquire(
      { type: 'AcquireLicense', now: this.#now(member), licenseId: 'check', deviceId: input.deviceId, titleId: input.titleId, plan: input.plan },
      member.state,
      rules,
    );
    if (isUnknownPlan(decision)) throw unknownPlanError(decision);
    if (isRefusal(decision)) {
      return { allowed: false, reason: decision.reason, message: decision.message, details: decision.details, rulesVersion: rules.version, ...marked };
    }
    // Exactly what an acquire would decide: one whose expiry cannot be represented is refused.
    requireRepresentableEvents(decision.events);
    return { allowed: true, rulesVersion: rules.version, ...marked };
  }

  async activeLicenses(memberId: string, fence?: OwnershipFence | null): Promise<LicenseState[]> {
    const member = await this.#member(memberId, this.#fenceFor(memberId, fence));
    return activeLicenses(member.state).sort((a, b) => a.acquiredAt - b.acquiredAt || (a.licenseId < b.licenseId ? -1 : 1));
  }

  /**
   * Writes a snapshot of the member now (admin), in its mailbox so no command runs meanwhile.
   * A failure is the store's error; the member is then forgotten and reloads on its next request.
   */
  async snapshotNow(memberId: string, fence?: OwnershipFence | null): Promise<SnapshotResult> {
    const owned = this.#fenceFor(memberId, fence);
    return this.#mailbox.run(memberId, async () => {
      const member = await this.#writableInTurn(memberId, owned);
      let taken = false;
      if (member.head.position > 0 && member.eventsSinceSnapshot > 0) {
        try {
          taken = await this.#options.repository.snapshot(member, { rethrow: true });
        } catch (error) {
          this.#members.delete(memberId);
          throw error;
        }
      }
      return { memberId, taken, generation: member.head.generation, position: member.head.position };
    });
  }

  /**
   * The local half of a handoff (cluster rebalancing): its queued commands finish first, then it
   * leaves memory. Resolves true when it was in memory.
   */
  evict(memberId: string): Promise<boolean> {
    return this.#mailbox.run(memberId, async () => this.#members.delete(memberId));
  }

  /** Loads a member (claiming it, in a cluster) so its first request finds it in memory. */
  async warm(memberId: string, fence?: OwnershipFence | null): Promise<boolean> {
    await this.#member(memberId, this.#fenceFor(memberId, fence));
    return true;
  }

  /**
   * The sending half of a live migration, in the member's mailbox so its queued commands finish
   * first: the member leaves memory and comes back as data, its exact state (the snapshot
   * encoding of what memory holds, not pruned). A degraded member (read from cold) is only
   * evicted: its new owner must read hot.
   */
  export(memberId: string): Promise<ShippedMember | null> {
    return this.#mailbox.run(memberId, async () => {
      const member = this.#members.get(memberId);
      this.#members.delete(memberId);
      if (!member || member.degraded) return null;
      return this.#options.repository.ship(member);
    });
  }

  /**
   * Announces a member on its way here: a task joins its mailbox that waits for the shipment (at
   * most `waitMs`), so the requests that arrive meanwhile queue behind it instead of loading the
   * member from the store concurrently. False when it is in memory or already announced.
   */
  async expectInstall(memberId: string, waitMs: number): Promise<boolean> {
    if (this.#members.has(memberId) || this.#incoming.has(memberId)) return false;
    let deliver: (delivery: Delivery | null) => void = () => {};
    const delivered = new Promise<Delivery | null>((resolve) => (deliver = resolve));
    const timer = setTimeout(() => deliver(null), waitMs);
    timer.unref();
    const incoming: Incoming = { deliver, installed: Promise.resolve(false) };
    const done = (): void => {
      clearTimeout(timer);
      if (this.#incoming.get(memberId) === incoming) this.#incoming.delete(memberId);
    };
    incoming.installed = this.#mailbox.run(memberId, async () => {
      const delivery = await delivered;
      done();
      return delivery ? this.#installInTurn(memberId, delivery.shipped, delivery.fence) : false;
    });
    // A full mailbox refuses the waiting task at once: nothing waits then, and requests load the member.
    let refused = false;
    incoming.installed = incoming.installed.catch(() => {
      refused = true;
      done();
      return false;
    });
    this.#incoming.set(memberId, incoming);
    await Promise.resolve();
    return !refused;
  }

  /**
   * Puts a shipped member in memory with this node's fence (`fence`, else this service's own),
   * reading nothing from the store. An announced member is installed by its waiting task, ahead
   * of the requests queued behind it; `shipped` null only releases them (they load the member).
   * Never over a member already in memory: false then.
   */
  async install(memberId: string, shipped: ShippedMember | null, fence?: OwnershipFence | null): Promise<boolean> {
    const incoming = this.#incoming.get(memberId);
    if (incoming) this.#incoming.delete(memberId);
    let owned: OwnershipFence | null;
    try {
      if (shipped && shipped.memberId !== memberId) throw new AppError('VALIDATION_FAILED', `a shipment for member ${shipped.memberId} was sent as member ${memberId}`);
      owned = this.#fenceFor(memberId, fence);
    } catch (error) {
      incoming?.deliver(null);
      throw error;
    }
    if (incoming) {
      incoming.deliver(shipped ? { shipped, fence: owned } : null);
      return incoming.installed;
    }
    if (!shipped) return false;
    return this.#mailbox.run(memberId, async () => this.#installInTurn(memberId, shipped, owned));
  }

  async #installInTurn(memberId: string, shipped: ShippedMember, fence: OwnershipFence | null): Promise<boolean> {
    // The member is already here (a request loaded it while the shipment was late): memory holds
    // what the store held then, and a second copy must never replace it; the shipment is dropped.
    if (this.#members.has(memberId)) return false;
    this.#members.set(memberId, this.#options.repository.install(shipped, fence));
    this.#counters.installs += 1;
    return true;
  }

  /** The ids of the members in memory (cluster rebalancing decides which of them move). */
  async memberIds(): Promise<string[]> {
    return [...this.#members.keys()];
  }

  async memberCount(): Promise<number> {
    return this.#members.size;
  }

  /** Waits for every queued command to finish (graceful shutdown). */
  drain(): Promise<void> {
    return this.#mailbox.drain();
  }

  #fenceFor(memberId: string, given: OwnershipFence | null | undefined): OwnershipFence | null {
    return given !== undefined ? given : (this.#options.ownership?.(memberId) ?? null);
  }

  /** The loaded member, from memory or (once, inside its mailbox) from the store. */
  async #member(memberId: string, fence: OwnershipFence | null): Promise<LoadedMember> {
    const cached = this.#members.get(memberId);
    if (cached && !this.#retryHot(cached)) {
      this.#counters.cacheHits += 1;
      return cached;
    }
    // Loads run in the member's mailbox: concurrent requests for a cold member share one load.
    return this.#mailbox.run(memberId, () => this.#loadInTurn(memberId, fence));
  }

  /** A member loaded from cold a while ago: time to try hot again (it stays in memory meanwhile). */
  #retryHot(member: LoadedMember): boolean {
    return member.degraded !== undefined && performance.now() - (member.loadedAt ?? 0) >= DEGRADED_RETRY_MS;
  }

  /**
   * The member as hot holds it, for a command: one loaded from cold is reloaded first (fencing
   * and the head live in hot), and while hot cannot be reached the command is refused, not queued.
   */
  async #writableInTurn(memberId: string, fence: OwnershipFence | null): Promise<LoadedMember> {
    if (this.#members.get(memberId)?.degraded) this.#members.delete(memberId);
    const member = await this.#loadInTurn(memberId, fence);
    if (member.degraded) {
      throw new StoreUnavailableError(`member ${memberId}: the hot tier of the event store cannot be reached; checks are answered from the cold tier, commands wait for hot`, {
        outcome: 'not-applied',
      });
    }
    return member;
  }

  async #loadInTurn(memberId: string, fence: OwnershipFence | null): Promise<LoadedMember> {
    const cached = this.#members.get(memberId);
    if (cached && !this.#retryHot(cached)) return cached;
    this.#counters.loads += 1;
    const member = await this.#options.repository.load(memberId, fence);
    this.#members.set(memberId, member);
    return member;
  }

  async #executeInTurn(memberId: string, input: CommandInput, fence: OwnershipFence | null): Promise<CommandResult> {
    for (let attempt = 0; ; attempt++) {
      const member = await this.#writableInTurn(memberId, fence);
      const rules = this.#options.rules.current();
      const command = this.#command(input, member);
      const decision = decide(command, member.state, rules);
      if (isUnknownPlan(decision)) throw unknownPlanError(decision);
      if (isRefusal(decision)) return { outcome: 'refused', refusal: decision, rulesVersion: rules.version };
      if ('requestIdReused' in decision) {
        throw new AppError('REQUEST_ID_REUSED', `requestId ${decision.requestId} was already used for a different command in the last 24 hours`, {
          field: 'body.requestId',
        });
      }
      requireRepresentableEvents(decision.events);
      try {
        await this.#options.repository.append(member, decision.events, { rulesVersion: rules.version, requestId: command.requestId, correlationId: command.correlationId });
        // Set again: the member grew, and the cache's byte bound counts sizes at set time.
        // lru-cache re-measures only when the value is a different object, so remove the entry
        // first; setting the same object again would keep its load-time size.
        if (decision.events.length > 0 && this.#options.maxBytesInMemory) {
          this.#members.delete(memberId);
          this.#members.set(memberId, member);
        }
        return { outcome: 'done', answer: decision.answer, repeated: decision.repeated, rulesVersion: rules.version };
      } catch (error) {
        // A write known not to have happened leaves memory equal to the store: keep the member,
        // so checks go on being answered while the store is away. Anything else (a conflict, an
        // unknown outcome, another node owning the member now) means memory may be wrong: forget
        // it and reload the truth next turn (or, OWNERSHIP_MOVED, let the new owner have it).
        if ((error as { outcome?: unknown }).outcome === 'not-applied') throw error;
        this.#members.delete(memberId);
        if ((error as { code?: unknown }).code !== 'STORE_CONFLICT') throw error;
        // Another writer moved the head: decide again on fresh state, a bounded number of times.
        if (attempt >= this.#options.conflictRetries) {
          throw new AppError('STORE_CONFLICT', `member ${memberId} kept changing under concurrent writers; retry later`);
        }
      }
    }
  }

  #now(member: LoadedMember): number {
    // Events of one member are never stamped earlier than the ones before them, so their
    // order in time is their order of decision even if the clock steps back.
    return Math.max(this.#options.clock.now(), member.state.lastEventAt);
  }

  #command(input: CommandInput, member: LoadedMember): MemberCommand {
    const now = this.#now(member);
    if (input.type === 'AcquireLicense') return { ...input, now, licenseId: this.#newLicenseId() };
    return { ...input, now };
  }
}

/**
 * A decision whose events would carry a time the service cannot represent (a manual clock set
 * near year 9999, plus a license window) is refused before anything is written: the request was
 * fine, but its answer could not be stored and read back.
 */
function requireRepresentableEvents(events: readonly DomainEvent[]): void {
  const outside = firstUnrepresentableTime(events);
  if (outside === null) return;
  const shown = Math.abs(outside.at) <= 8.64e15 ? new Date(outside.at).toISOString() : `${outside.at} ms`;
  throw new AppError(
    'TIME_OUT_OF_RANGE',
    `${outside.field} would be ${shown}, outside ${MIN_ISO} to ${MAX_ISO} (the service clock reads too close to the end of the range); nothing was written`,
    { field: outside.field },
  );
}

/** A shipment handed to the task that waits for it in the member's mailbox. */
interface Delivery {
  shipped: ShippedMember;
  fence: OwnershipFence | null;
}

interface Incoming {
  deliver(delivery: Delivery | null): void;
  /** The waiting task's outcome: true once the shipment is in memory. */
  installed: Promise<boolean>;
}

/** For a check that cannot decide (the member's history is unreadable): the decider's plan check alone. */
function requireKnownPlan(rules: Rules, plan: string | undefined): void {
  const resolved = resolvePlan(rules, plan);
  if (isUnknownPlan(resolved)) throw unknownPlanError(resolved);
}

function unknownPlanError(unknown: UnknownPlan): AppError {
  return new AppError('UNKNOWN_PLAN', unknown.message, { field: 'plan' });
}

/**
 * A fresh license id. randomUUID builds its string from 20 pieces joined one by one, which V8
 * keeps as a tree of about 480 bytes; the member holds the id for as long as the license (and
 * its download, a year): a flat copy costs 56.
 */
function mintLicenseId(): string {
  return JSON.parse(JSON.stringify(randomUUID())) as string;
}

/**
 * V8 heap bytes of the parts of a member in memory, measured (bench/member-state-bench.ts, and
 * bench/RESULTS.md, "Member state") on Node 20 x64: the cache entry, LoadedMember and its state
 * (600); a license (its object, two boxed times, its slot; plus its id); a download in the log
 * (80, plus its license id when the license itself has left the state); a device; a request
 * record (its answer and id; the map that holds them, 184, once there is one).
 */
const BYTES = { member: 600, license: 152, download: 80, device: 72, deactivation: 8, request: 240, requestMap: 184 };

/** A string's own bytes: ids of up to 10 characters parsed from JSON are interned, and shared. */
function stringBytes(value: string): number {
  return value.length <= 10 ? 0 : 16 + Math.ceil(value.length / 8) * 8;
}

/**
 * The size of a member in memory, for the cache's byte bound (`cache.maxBytes`): the measured
 * costs above, within 25% of the heap a member really holds for members from 3 licenses to ten
 * years of history (bench/RESULTS.md). Linear in the member's licenses and devices.
 */
export function approximateMemberBytes(member: LoadedMember): number {
  const { licenses, downloaded, devices, requests } = member.state;
  let bytes = BYTES.member + stringBytes(member.memberId);
  let idBytes = 0;
  for (const license of licenses.values()) idBytes += stringBytes(license.licenseId);
  bytes += licenses.size * BYTES.license + idBytes;
  // A download's license id is its license's string while the license is kept; after, its own.
  const downloads = downloaded.downloads.length;
  const averageId = licenses.size === 0 ? stringBytes('00000000-0000-0000-0000-000000000000') : idBytes / licenses.size;
  bytes += downloads * BYTES.download + Math.max(0, downloads - licenses.size) * averageId;
  for (const device of devices.values()) bytes += BYTES.device + stringBytes(device.deviceId) + device.deactivations.length * BYTES.deactivation;
  if (requests.size > 0) bytes += BYTES.requestMap + requests.size * BYTES.request;
  return Math.round(bytes);
}

/** A LicenseService with the settings of the config's `service` section (main thread or worker). */
export function licenseServiceFromConfig(
  service: ServiceConfig,
  deps: {
    store: EventStore;
    rules: RulesSource;
    clock: Clock;
    onSnapshotError: (memberId: string, error: unknown) => void;
    onDegradedCheck?: (memberId: string, error: unknown) => void;
    ownership?: (memberId: string) => OwnershipFence | null;
  },
): LicenseService {
  return new LicenseService({
    repository: new MemberRepository(deps.store, { ...service.snapshot, releasedLicenseRetentionDays: service.retention.releasedLicenseDays }, deps.onSnapshotError),
    rules: deps.rules,
    clock: deps.clock,
    maxMembersInMemory: service.cache.maxMembers,
    maxBytesInMemory: service.cache.maxBytes,
    maxQueuedPerMember: service.actors.maxQueuedPerMember,
    conflictRetries: service.conflictRetries,
    ...(deps.ownership ? { ownership: deps.ownership } : {}),
    ...(deps.onDegradedCheck ? { onDegradedCheck: deps.onDegradedCheck } : {}),
  });
}

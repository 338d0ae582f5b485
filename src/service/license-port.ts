/**
 * What the rest of the program asks of a node's members. Two runtimes provide it: the
 * LicenseService in this thread (`actors.workers` 0) and the ActorPool of worker threads, each
 * hosting LicenseServices. The edge routes need only LicensePort; the composition root, the
 * admin snapshot and the cluster's handoff use more of MemberActors.
 */
import type { LicenseState } from '../domain/aggregates/license.ts';
import type { CheckInput, CheckResult, CommandInput, CommandResult, SnapshotResult } from './license-service.ts';
import type { ShippedMember } from './member-repository.ts';

export type { ShippedMember };

/** The edge's commands and reads. */
export interface LicensePort {
  execute(memberId: string, input: CommandInput): Promise<CommandResult>;
  check(memberId: string, input: CheckInput): Promise<CheckResult>;
  activeLicenses(memberId: string): Promise<LicenseState[]>;
}

/**
 * Every operation on one member, each run in that member's turn. Their names are the actor
 * protocol's operations too (src/actors/protocol.ts), so a worker runs a request by name.
 */
export interface MemberOperations extends LicensePort {
  /** Writes a snapshot of the member now (admin). */
  snapshotNow(memberId: string): Promise<SnapshotResult>;
  /**
   * The local half of a handoff (cluster): the member's queued commands finish, then it leaves
   * memory. Resolves true when it was in memory. Never loads, so never claims.
   */
  evict(memberId: string): Promise<boolean>;
  /** Loads (and, in a cluster, claims) a member so its first request finds it in memory. */
  warm(memberId: string): Promise<boolean>;
  /**
   * The sending half of a live migration: the member's queued commands finish, then it leaves
   * memory and comes back as data. Null when it was not in memory (or only a degraded copy was).
   */
  export(memberId: string): Promise<ShippedMember | null>;
  /**
   * The receiving half: holds the member's requests in its mailbox until `install` brings its
   * state or `waitMs` passes (then they load it from the store). False when it is in memory
   * already or an earlier announcement still waits.
   */
  expectInstall(memberId: string, waitMs: number): Promise<boolean>;
  /**
   * Puts a shipped member in memory with this node's fence, reading nothing from the store; null
   * releases an announced member without state. Never over a member already in memory: false then.
   */
  install(memberId: string, shipped: ShippedMember | null): Promise<boolean>;
}

/** A node's members, wherever they live. */
export interface MemberActors extends MemberOperations {
  /** The ids of the members in memory (a handoff decides which of them move). */
  memberIds(): Promise<string[]>;
  /** How many members are in memory (cheaper than listing them). */
  memberCount(): Promise<number>;
}

/**
 * Every limit rule, and what is built from the list: the limits' part of the rules schema, the
 * refusal reasons (the OpenAPI `reason` enum), and the evaluation `decide` refuses from and
 * `explain` presents. test/domain/limits.test.ts checks the README's Refusals table and the
 * schema against this list.
 *
 * A new limit: a module beside these (see limit-rule.ts and title-download-limit.ts), listed in
 * LIMIT_RULES and its keys spread into LIMIT_KEYS below, a spec in test/domain/, its README row
 * (the test prints it), and `npm run openapi` for the reason enum.
 */
import { LIFECYCLE_REASONS, refuse, type Refusal } from '../refusal.ts';
import type { MemberState } from '../member/state.ts';
import type { Counted } from './counting.ts';
import { deactivationLimit, keys as deactivationKeys } from './deactivation-limit.ts';
import { deviceDownloadLimit, keys as deviceDownloadKeys } from './device-download-limit.ts';
import { deviceLimit, keys as deviceKeys } from './device-limit.ts';
import type { Limit, LimitedCommand, Policy } from './limit-rule.ts';
import { renewalLimit, keys as renewalKeys } from './renewal-limit.ts';
import { studioLimit, keys as studioKeys } from './studio-limit.ts';
import { titleDownloadLimit, keys as titleDownloadKeys } from './title-download-limit.ts';
import { yearlyTitleLimit, keys as yearlyTitleKeys } from './yearly-title-limit.ts';

/** In the order a command checks them: the first refusal is the answer. */
export const LIMIT_RULES = [deviceLimit, deviceDownloadLimit, studioLimit, titleDownloadLimit, renewalLimit, yearlyTitleLimit, deactivationLimit] as const;

/** The limits' keys in the rules schema, by where they sit (see RuleKeys). */
export const LIMIT_KEYS = {
  member: { ...deviceDownloadKeys.member, ...deactivationKeys.member },
  memberRequired: [...deviceDownloadKeys.required, ...deactivationKeys.required],
  plan: { ...deviceKeys.plan },
  planRequired: [...deviceKeys.required],
  title: { ...studioKeys.title, ...titleDownloadKeys.title, ...renewalKeys.title, ...yearlyTitleKeys.title },
  titleRequired: [...studioKeys.required, ...renewalKeys.required, ...yearlyTitleKeys.required],
} as const;

export type LimitReason = (typeof LIMIT_RULES)[number]['reason'];

/** Every reason a refused command (409) or a check can carry. */
export const REFUSAL_REASONS = [...LIMIT_RULES.map((rule) => rule.reason), ...LIFECYCLE_REASONS];

/** One rule's evaluation of one command. */
export interface Evaluation {
  name: string;
  reason: LimitReason;
  limit: Limit;
  counting: Counted[];
  refusal: Refusal | null;
}

/** Every rule that applies to the command, evaluated, in LIMIT_RULES order. */
export function evaluateLimits(state: MemberState, command: LimitedCommand, policy: Policy): Evaluation[] {
  const evaluations: Evaluation[] = [];
  for (const rule of LIMIT_RULES) {
    if (!rule.commands.includes(command.type)) continue;
    const outcome = rule.evaluate(state, command, policy);
    if (outcome === null) continue;
    const refusal = outcome.refusal === null ? null : refuse(rule.reason, outcome.refusal.message, outcome.refusal.details);
    evaluations.push({ name: rule.name, reason: rule.reason, limit: outcome.limit, counting: outcome.counting, refusal });
  }
  return evaluations;
}

export function firstRefusal(evaluations: readonly Evaluation[]): Refusal | null {
  return evaluations.find((e) => e.refusal !== null)?.refusal ?? null;
}

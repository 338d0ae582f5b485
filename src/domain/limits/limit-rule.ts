/**
 * What a limit rule is. Each limit is one module in this folder that declares its config keys,
 * its refusal reason, its README row and a pure `evaluate`; `decide` refuses from the
 * evaluations and `explain` presents them, so the two can never disagree. index.ts lists them.
 */
import type { AcquireLicense, DeactivateDevice, RenewLicense } from '../member/commands.ts';
import type { MemberState } from '../member/state.ts';
import type { ResolvedPlan, Rules, TitlePolicy } from '../rules.ts';
import type { Counted } from './counting.ts';

/** A limit's value: a count, or null for no limit. */
export type Limit = number | null;

/** A limit's schema in the config file. */
export const limitSchema = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] } as const;

/** A limit is reached when the count already used is at or above it; null never is. */
export function reached(limit: Limit, used: number): boolean {
  return limit !== null && used >= limit;
}

/** The commands a limit can refuse. */
export type LimitedCommand = AcquireLicense | RenewLicense | DeactivateDevice;

/** The rules that govern one command, resolved from the rules in force. */
export interface Policy {
  /** The whole rule set (for the member-wide keys). */
  rules: Rules;
  /** The member's plan; null for a command that names none (only an acquire does). */
  plan: ResolvedPlan | null;
  /** The title's rules (its studio's over the defaults); null for a command about no title. */
  title: TitlePolicy | null;
}

/**
 * Where a rule's keys sit in the `rules` section of the config: `member` keys at its top (one
 * value for every member), `plan` keys in every `plans.<plan>`, `title` keys in `defaults`,
 * each of which a studio may override in `studios.<studio>` for its titles. `required` names the
 * keys a config must give: those of the original rule set. A key added later is optional, and
 * absent means the rule's default (no limit), so existing config files and saved rule versions
 * stay valid and mean what they meant.
 */
type Properties = Readonly<Record<string, object>>;
export interface RuleKeys {
  readonly member?: Properties;
  readonly plan?: Properties;
  readonly title?: Properties;
  readonly required?: readonly string[];
}

/** What a rule found: the limit, what counts toward it (with the events behind each count), and the refusal if any. */
export interface Outcome {
  limit: Limit;
  counting: Counted[];
  refusal: { message: string; details: Record<string, unknown> } | null;
}

export interface LimitRule<Reason extends string = string> {
  /** The config key that sets the limit; also the limit's name in explanations. */
  readonly name: string;
  readonly reason: Reason;
  /** The commands it can refuse. */
  readonly commands: readonly LimitedCommand['type'][];
  readonly keys: RuleKeys;
  /** The README's row in the Refusals table: what counts, and the keys that set the limit. */
  readonly readme: { readonly counts: string; readonly setBy: string };
  /** Pure. Null when the rule does not apply to this command (or this title). */
  evaluate(state: MemberState, command: LimitedCommand, policy: Policy): Outcome | null;
}

/**
 * Business rules, as read from the `rules` section of the config file. They change at run time
 * (hot reload), so the domain receives them with every decision and never caches them.
 * `null` always means "no limit".
 *
 * The schema is the one declaration of their shape: the limits' keys come from the limit
 * modules (limits/index.ts), and the TypeScript types derive from the schema.
 */
import type { FromSchema } from 'json-schema-to-ts';
import { LIMIT_KEYS } from './limits/index.ts';

const positiveDays = { type: 'integer', minimum: 1, maximum: 3650 } as const;

/** The JSON schema of the `rules` section. Every object refuses unknown keys: a typo names the key. */
export const rulesSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'defaults', 'plans', ...LIMIT_KEYS.memberRequired, 'studios', 'titles'],
  properties: {
    version: { type: 'string', minLength: 1, maxLength: 128 },
    defaults: {
      type: 'object',
      additionalProperties: false,
      required: ['plan', 'licenseWindowDays', ...LIMIT_KEYS.titleRequired],
      properties: { plan: { type: 'string', minLength: 1 }, licenseWindowDays: positiveDays, ...LIMIT_KEYS.title },
    },
    plans: {
      type: 'object',
      minProperties: 1,
      additionalProperties: { type: 'object', additionalProperties: false, required: LIMIT_KEYS.planRequired, properties: LIMIT_KEYS.plan },
    },
    ...LIMIT_KEYS.member,
    // A studio's keys override the defaults for its titles.
    studios: {
      type: 'object',
      additionalProperties: { type: 'object', additionalProperties: false, properties: { licenseWindowDays: positiveDays, ...LIMIT_KEYS.title } },
    },
    titles: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['studio'],
        properties: { studio: { type: 'string', minLength: 1 } },
      },
    },
  },
} as const;

export type Rules = FromSchema<typeof rulesSchema>;
type RuleDefaults = Rules['defaults'];
type PlanRules = Rules['plans'][string];
type StudioRules = Rules['studios'][string];

/** The rules that govern one title: its studio's overrides laid over the defaults. */
export type TitlePolicy = Omit<RuleDefaults, 'plan'> & {
  titleId: string;
  /** null for a title missing from the catalog: it gets the defaults and counts toward no studio. */
  studioId: string | null;
};

// Catalog and studio keys come from config, which may hold any string: look them up as own
// properties only, so a title named "constructor" never finds Object.prototype.constructor.
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function titlePolicy(rules: Rules, titleId: string): TitlePolicy {
  const studioId = own(rules.titles, titleId)?.studio ?? null;
  const studio: StudioRules = (studioId === null ? undefined : own(rules.studios, studioId)) ?? {};
  const { plan: _plan, ...defaults } = rules.defaults;
  // A key the studio leaves out is absent from its object, so the default shows through.
  return { ...defaults, ...studio, titleId, studioId };
}

export interface ResolvedPlan {
  plan: string;
  limits: PlanRules;
}

/** The plan's limits, or undefined when the plan is not in the rules. */
export function planRules(rules: Rules, plan: string | undefined): ResolvedPlan | undefined {
  const name = plan ?? rules.defaults.plan;
  const limits = own(rules.plans, name);
  return limits === undefined ? undefined : { plan: name, limits };
}

/** A plan the rules do not define: bad input (400 UNKNOWN_PLAN), not a refusal. */
export interface UnknownPlan {
  unknownPlan: true;
  plan: string;
  message: string;
}

/** The one check of a plan: its limits, or why it is unknown. */
export function resolvePlan(rules: Rules, plan: string | undefined): ResolvedPlan | UnknownPlan {
  const resolved = planRules(rules, plan);
  if (resolved !== undefined) return resolved;
  const name = plan ?? rules.defaults.plan;
  return { unknownPlan: true, plan: name, message: `plan "${name}" is not a plan in rules version ${rules.version} (known: ${Object.keys(rules.plans).join(', ')})` };
}

export function isUnknownPlan(value: unknown): value is UnknownPlan {
  return typeof value === 'object' && value !== null && 'unknownPlan' in value && value.unknownPlan === true;
}

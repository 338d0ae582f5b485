/**
 * Business rules, as read from the `rules` section of the config file. They change at run time
 * (hot reload), so the domain receives them with every decision and never caches them.
 * `null` always means "no limit".
 */
export type Limit = number | null;

export interface StudioRules {
  yearlyTitleLimit?: Limit;
  maxActiveDownloadsPerStudio?: Limit;
  maxRenewals?: Limit;
  licenseWindowDays?: number;
  renewalCountsTowardYearlyLimit?: boolean;
}

export interface RuleDefaults {
  plan: string;
  licenseWindowDays: number;
  yearlyTitleLimit: Limit;
  maxActiveDownloadsPerStudio: Limit;
  maxRenewals: Limit;
  renewalCountsTowardYearlyLimit: boolean;
}

export interface PlanRules {
  maxDownloadDevices: Limit;
}

export interface Rules {
  version: string;
  defaults: RuleDefaults;
  plans: Record<string, PlanRules>;
  maxActiveDownloadsPerDevice: Limit;
  maxDeviceDeactivationsPerYear: Limit;
  studios: Record<string, StudioRules>;
  titles: Record<string, { studio: string }>;
}

/** The rules that govern one title: its studio's overrides laid over the defaults. */
export interface TitlePolicy {
  titleId: string;
  /** null for a title missing from the catalog: it gets the defaults and counts toward no studio. */
  studioId: string | null;
  licenseWindowDays: number;
  yearlyTitleLimit: Limit;
  maxActiveDownloadsPerStudio: Limit;
  maxRenewals: Limit;
  renewalCountsTowardYearlyLimit: boolean;
}

// Catalog and studio keys come from config, which may hold any string: look them up as own
// properties only, so a title named "constructor" never finds Object.prototype.constructor.
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

export function titlePolicy(rules: Rules, titleId: string): TitlePolicy {
  const studioId = own(rules.titles, titleId)?.studio ?? null;
  const studio: StudioRules = (studioId === null ? undefined : own(rules.studios, studioId)) ?? {};
  const d = rules.defaults;
  return {
    titleId,
    studioId,
    licenseWindowDays: studio.licenseWindowDays ?? d.licenseWindowDays,
    yearlyTitleLimit: studio.yearlyTitleLimit !== undefined ? studio.yearlyTitleLimit : d.yearlyTitleLimit,
    maxActiveDownloadsPerStudio:
      studio.maxActiveDownloadsPerStudio !== undefined ? studio.maxActiveDownloadsPerStudio : d.maxActiveDownloadsPerStudio,
    maxRenewals: studio.maxRenewals !== undefined ? studio.maxRenewals : d.maxRenewals,
    renewalCountsTowardYearlyLimit: studio.renewalCountsTowardYearlyLimit ?? d.renewalCountsTowardYearlyLimit,
  };
}

/** The plan's limits, or undefined when the plan is not in the rules (the caller refuses the input). */
export function planRules(rules: Rules, plan: string | undefined): { plan: string; limits: PlanRules } | undefined {
  const name = plan ?? rules.defaults.plan;
  const limits = own(rules.plans, name);
  return limits === undefined ? undefined : { plan: name, limits };
}

/** A limit is reached when the count already used is at or above it; null never is. */
export function reached(limit: Limit, used: number): boolean {
  return limit !== null && used >= limit;
}

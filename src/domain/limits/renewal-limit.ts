/** Renewals of one license. */
import { countRenewal } from './counting.ts';
import { limitSchema, reached, type LimitRule } from './limit-rule.ts';

export const keys = {
  title: { maxRenewals: limitSchema },
  required: ['maxRenewals'],
} as const;

export const renewalLimit: LimitRule<'RENEWAL_LIMIT'> = {
  name: 'maxRenewals',
  reason: 'RENEWAL_LIMIT',
  commands: ['RenewLicense'],
  keys,
  readme: { counts: 'renewals of this license', setBy: '`maxRenewals` in `defaults` or `studios.<studio>`' },
  evaluate(state, command, policy) {
    if (command.type !== 'RenewLicense' || policy.title === null) return null;
    const license = state.licenses.get(command.licenseId);
    if (license === undefined) return null;
    const limit = policy.title.maxRenewals;
    const { licenseId, renewals } = license;
    const counting = Array.from({ length: renewals }, (_, i) => countRenewal(licenseId, i + 1));
    if (!reached(limit, renewals)) return { limit, counting, refusal: null };
    return {
      limit,
      counting,
      refusal: {
        message: `License ${licenseId} was renewed ${renewals} times; the limit for this title is ${limit}. Acquire a new license instead.`,
        details: { licenseId, renewals, limit },
      },
    };
  },
};

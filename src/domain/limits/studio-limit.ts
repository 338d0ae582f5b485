/** Active downloads of one studio's titles, per member. A title of no studio counts toward none. */
import { activeLicenses } from '../member/state.ts';
import { countLicense } from './counting.ts';
import { limitSchema, reached, type LimitRule } from './limit-rule.ts';

export const keys = {
  title: { maxActiveDownloadsPerStudio: limitSchema },
  required: ['maxActiveDownloadsPerStudio'],
} as const;

export const studioLimit: LimitRule<'STUDIO_LIMIT'> = {
  name: 'maxActiveDownloadsPerStudio',
  reason: 'STUDIO_LIMIT',
  commands: ['AcquireLicense'],
  keys,
  readme: { counts: "active downloads of the title's studio", setBy: '`maxActiveDownloadsPerStudio` in `defaults` or `studios.<studio>`' },
  evaluate(state, command, policy) {
    if (command.type !== 'AcquireLicense' || policy.title === null) return null;
    const { studioId } = policy.title;
    if (studioId === null) return { limit: null, counting: [], refusal: null };
    const limit = policy.title.maxActiveDownloadsPerStudio;
    const studioActive = activeLicenses(state).filter((l) => l.studioId === studioId);
    const counting = studioActive.map(countLicense);
    if (!reached(limit, studioActive.length)) return { limit, counting, refusal: null };
    return {
      limit,
      counting,
      refusal: {
        message: `${studioActive.length} downloads from studio ${studioId} are active (limit ${limit}). Release one of its titles first.`,
        details: { studioId, limit, activeLicenses: studioActive.map((l) => ({ licenseId: l.licenseId, titleId: l.titleId, deviceId: l.deviceId })) },
      },
    };
  },
};

/**
 * Active downloads of one title per member, on any of its devices. Added after the first rule
 * set: the key is optional, and absent means no limit.
 */
import { activeLicenses } from '../member/state.ts';
import { countLicense } from './counting.ts';
import { limitSchema, reached, type Limit, type LimitRule } from './limit-rule.ts';

/** When neither the defaults nor the title's studio set the key. */
const DEFAULT_LIMIT: Limit = null;

export const keys = {
  title: { maxActiveDownloadsPerTitle: limitSchema },
  required: [],
} as const;

export const titleDownloadLimit: LimitRule<'TITLE_DOWNLOAD_LIMIT'> = {
  name: 'maxActiveDownloadsPerTitle',
  reason: 'TITLE_DOWNLOAD_LIMIT',
  commands: ['AcquireLicense'],
  keys,
  readme: {
    counts: "active downloads of this title, on any of the member's devices",
    setBy: '`maxActiveDownloadsPerTitle` in `defaults` or `studios.<studio>` (absent: no limit)',
  },
  evaluate(state, command, policy) {
    if (command.type !== 'AcquireLicense' || policy.title === null) return null;
    const { titleId } = policy.title;
    const limit = policy.title.maxActiveDownloadsPerTitle ?? DEFAULT_LIMIT;
    const ofTitle = activeLicenses(state).filter((l) => l.titleId === titleId);
    const counting = ofTitle.map(countLicense);
    if (!reached(limit, ofTitle.length)) return { limit, counting, refusal: null };
    return {
      limit,
      counting,
      refusal: {
        message: `${ofTitle.length} downloads of title ${titleId} are active (limit ${limit}). Release one of them first.`,
        details: { titleId, limit, activeLicenses: ofTitle.map((l) => ({ licenseId: l.licenseId, deviceId: l.deviceId })) },
      },
    };
  },
};

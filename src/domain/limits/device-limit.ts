/**
 * Devices holding downloads, by plan. A device counts while it holds at least one unreleased
 * license. The limit holds after the acquire too: a device already holding downloads adds no
 * device, but a member already over the limit (after a downgrade, say) may add downloads nowhere.
 */
import { activeByDevice } from '../member/state.ts';
import { countDevice } from './counting.ts';
import { limitSchema, reached, type LimitRule } from './limit-rule.ts';

export const keys = {
  plan: { maxDownloadDevices: limitSchema },
  required: ['maxDownloadDevices'],
} as const;

export const deviceLimit: LimitRule<'DEVICE_LIMIT'> = {
  name: 'maxDownloadDevices',
  reason: 'DEVICE_LIMIT',
  commands: ['AcquireLicense'],
  keys,
  readme: { counts: 'devices holding downloads (a device counts while it holds an unreleased license)', setBy: '`plans.<plan>.maxDownloadDevices`' },
  evaluate(state, command, policy) {
    if (command.type !== 'AcquireLicense' || policy.plan === null) return null;
    const { plan, limits } = policy.plan;
    const limit = limits.maxDownloadDevices;
    const byDevice = activeByDevice(state);
    const otherDevices = byDevice.size - (byDevice.has(command.deviceId) ? 1 : 0);
    const counting = [...byDevice].map(([deviceId, licenses]) => countDevice(deviceId, licenses));
    if (!reached(limit, otherDevices)) return { limit, counting, refusal: null };
    return {
      limit,
      counting,
      refusal: {
        message: `Plan ${plan} allows downloads on ${limit} device(s) at once and ${byDevice.size} already hold downloads (${[...byDevice.keys()].join(', ')}). Release the downloads on one of them first.`,
        details: { plan, limit, devicesHoldingDownloads: [...byDevice].map(([deviceId, licenses]) => ({ deviceId, activeLicenses: licenses.length })) },
      },
    };
  },
};

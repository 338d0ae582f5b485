/** Active downloads on one device, the same for every member. */
import { activeByDevice } from '../member/state.ts';
import { countLicense } from './counting.ts';
import { limitSchema, reached, type LimitRule } from './limit-rule.ts';

export const keys = {
  member: { maxActiveDownloadsPerDevice: limitSchema },
  required: ['maxActiveDownloadsPerDevice'],
} as const;

export const deviceDownloadLimit: LimitRule<'DEVICE_DOWNLOAD_LIMIT'> = {
  name: 'maxActiveDownloadsPerDevice',
  reason: 'DEVICE_DOWNLOAD_LIMIT',
  commands: ['AcquireLicense'],
  keys,
  readme: { counts: 'active downloads on this device', setBy: '`maxActiveDownloadsPerDevice`' },
  evaluate(state, command, policy) {
    if (command.type !== 'AcquireLicense') return null;
    const { deviceId } = command;
    const limit = policy.rules.maxActiveDownloadsPerDevice;
    const onThisDevice = activeByDevice(state).get(deviceId) ?? [];
    const counting = onThisDevice.map(countLicense);
    if (!reached(limit, onThisDevice.length)) return { limit, counting, refusal: null };
    return {
      limit,
      counting,
      refusal: {
        message: `Device ${deviceId} holds ${onThisDevice.length} downloads (limit ${limit}). Release one on this device first.`,
        details: { deviceId, limit, activeLicenseIds: onThisDevice.map((l) => l.licenseId) },
      },
    };
  },
};

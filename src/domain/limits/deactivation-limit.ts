/** Remote deactivations of the member's devices in the rolling year, counted across all of them. */
import { inRollingYear, iso, YEAR_MS } from '../time.ts';
import { representableOrNull } from '../time-range.ts';
import { countDeactivation } from './counting.ts';
import { limitSchema, reached, type LimitRule } from './limit-rule.ts';

export const keys = {
  member: { maxDeviceDeactivationsPerYear: limitSchema },
  required: ['maxDeviceDeactivationsPerYear'],
} as const;

export const deactivationLimit: LimitRule<'DEACTIVATION_LIMIT'> = {
  name: 'maxDeviceDeactivationsPerYear',
  reason: 'DEACTIVATION_LIMIT',
  commands: ['DeactivateDevice'],
  keys,
  readme: { counts: "deactivations of all the member's devices in the last 365 days", setBy: '`maxDeviceDeactivationsPerYear`' },
  evaluate(state, command, policy) {
    if (command.type !== 'DeactivateDevice') return null;
    const limit = policy.rules.maxDeviceDeactivationsPerYear;
    const used = [...state.devices.values()]
      .flatMap((d) => d.deactivations.map((at) => ({ deviceId: d.deviceId, at })))
      .filter((d) => inRollingYear(d.at, command.now))
      .sort((a, b) => a.at - b.at);
    const counting = used.map((d) => countDeactivation(d.deviceId, d.at));
    if (!reached(limit, used.length)) return { limit, counting, refusal: null };
    const oldest = used[0];
    // A slot that frees after year 9999 is shown as null: it cannot be written as a date-time.
    const nextSlot = oldest === undefined ? null : representableOrNull(oldest.at + YEAR_MS);
    const nextSlotAt = nextSlot === null ? null : iso(nextSlot);
    return {
      limit,
      counting,
      refusal: {
        message: `${used.length} devices were deactivated in the last 365 days (limit ${limit})` + (nextSlotAt ? `; the next deactivation is possible from ${nextSlotAt}.` : '.'),
        details: { deviceId: command.deviceId, limit, deactivations: used.map((d) => iso(d.at)), nextSlotAt },
      },
    };
  },
};

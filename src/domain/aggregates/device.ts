/**
 * The `device` aggregate: one per device that ever held a download. It records registration
 * and remote deactivation; the member-wide count of deactivations in the rolling year (read
 * across all device aggregates) is what the deactivation limit checks.
 */
import { refuse, type Refusal } from '../refusal.ts';
import { iso, YEAR_MS, type Instant } from '../time.ts';
import { representableOrNull } from '../time-range.ts';
import { reached, type Limit } from '../rules.ts';

export interface DeviceRegistered {
  type: 'DeviceRegistered';
  at: Instant;
  deviceId: string;
}
export interface DeviceDeactivated {
  type: 'DeviceDeactivated';
  at: Instant;
  deviceId: string;
  releasedLicenseIds: string[];
}
export type DeviceEvent = DeviceRegistered | DeviceDeactivated;

export interface DeviceState {
  deviceId: string;
  status: 'active' | 'deactivated';
  registeredAt: Instant;
  /** Deactivations of this device within the rolling year ending at its newest event. */
  deactivations: Instant[];
}

export function evolveDevice(state: DeviceState | null, event: DeviceEvent): DeviceState {
  const recent = (state?.deactivations ?? []).filter((at) => at > event.at - YEAR_MS);
  switch (event.type) {
    case 'DeviceRegistered':
      return { deviceId: event.deviceId, status: 'active', registeredAt: event.at, deactivations: recent };
    case 'DeviceDeactivated':
      return {
        deviceId: event.deviceId,
        status: 'deactivated',
        registeredAt: state?.registeredAt ?? event.at,
        deactivations: [...recent, event.at],
      };
  }
}

export interface RegisterDevice {
  type: 'RegisterDevice';
  now: Instant;
  deviceId: string;
}
export interface DeactivateDevice {
  type: 'DeactivateDevice';
  now: Instant;
  deviceId: string;
  /** The device's active licenses, which the deactivation releases. */
  activeLicenseIds: string[];
  /** Deactivations of all the member's devices in the rolling year ending now, oldest first. */
  memberDeactivationsInYear: Instant[];
  maxDeactivationsPerYear: Limit;
}
export type DeviceCommand = RegisterDevice | DeactivateDevice;

export function decideDevice(command: DeviceCommand, state: DeviceState | null): DeviceEvent[] | Refusal {
  switch (command.type) {
    case 'RegisterDevice':
      if (state?.status === 'active') return [];
      return [{ type: 'DeviceRegistered', at: command.now, deviceId: command.deviceId }];
    case 'DeactivateDevice': {
      if (state === null) {
        return refuse('DEVICE_NOT_FOUND', `Device ${command.deviceId} has never held a download for this member.`, {
          deviceId: command.deviceId,
        });
      }
      // Deactivating a device that is already deactivated changes nothing and costs nothing.
      if (state.status === 'deactivated') return [];
      const used = command.memberDeactivationsInYear;
      const oldest = used[0];
      if (reached(command.maxDeactivationsPerYear, used.length)) {
        // A slot that frees after year 9999 is shown as null: it cannot be written as a date-time.
        const nextSlot = oldest === undefined ? null : representableOrNull(oldest + YEAR_MS);
        const nextSlotAt = nextSlot === null ? null : iso(nextSlot);
        return refuse(
          'DEACTIVATION_LIMIT',
          `${used.length} devices were deactivated in the last 365 days (limit ${command.maxDeactivationsPerYear})` +
            (nextSlotAt ? `; the next deactivation is possible from ${nextSlotAt}.` : '.'),
          { deviceId: command.deviceId, limit: command.maxDeactivationsPerYear, deactivations: used.map(iso), nextSlotAt },
        );
      }
      return [
        { type: 'DeviceDeactivated', at: command.now, deviceId: command.deviceId, releasedLicenseIds: command.activeLicenseIds },
      ];
    }
  }
}

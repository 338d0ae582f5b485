/**
 * The `device` aggregate: one per device that ever held a download. It records registration
 * and remote deactivation; the member-wide count of deactivations in the rolling year (read
 * across all device aggregates) is what the deactivation limit checks
 * (limits/deactivation-limit.ts), before this decides.
 */
import { refuse, type Refusal } from '../refusal.ts';
import { YEAR_MS, type Instant } from '../time.ts';

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
  deactivations: readonly Instant[];
}

/** Most devices were never deactivated: they share one empty list (a list costs 32 bytes). */
export const NO_DEACTIVATIONS: readonly Instant[] = Object.freeze([]);

export function evolveDevice(state: DeviceState | null, event: DeviceEvent): DeviceState {
  const kept = (state?.deactivations ?? NO_DEACTIVATIONS).filter((at) => at > event.at - YEAR_MS);
  const recent = kept.length === 0 ? NO_DEACTIVATIONS : kept.slice();
  switch (event.type) {
    case 'DeviceRegistered':
      return { deviceId: event.deviceId, status: 'active', registeredAt: event.at, deactivations: recent };
    case 'DeviceDeactivated':
      return {
        deviceId: event.deviceId,
        status: 'deactivated',
        registeredAt: state?.registeredAt ?? event.at,
        // concat makes an array of the exact length; a spread leaves room for 16 more.
        deactivations: recent.concat([event.at]),
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
}
export type DeviceCommand = RegisterDevice | DeactivateDevice;

export function decideDevice(command: DeviceCommand, state: DeviceState | null): DeviceEvent[] | Refusal {
  switch (command.type) {
    case 'RegisterDevice':
      if (state?.status === 'active') return [];
      return [{ type: 'DeviceRegistered', at: command.now, deviceId: command.deviceId }];
    case 'DeactivateDevice': {
      if (state === null) {
        return refuse(
          'DEVICE_NOT_FOUND',
          `Device ${command.deviceId} has never held a download for this member (or was deactivated more than 365 days ago and has held none since).`,
          {
            deviceId: command.deviceId,
          },
        );
      }
      // Deactivating a device that is already deactivated changes nothing and costs nothing.
      if (state.status === 'deactivated') return [];
      return [{ type: 'DeviceDeactivated', at: command.now, deviceId: command.deviceId, releasedLicenseIds: command.activeLicenseIds }];
    }
  }
}

/** Every event of every aggregate, one discriminated union on `type`. */
import type { LicenseEvent } from './aggregates/license.ts';
import type { DownloadedEvent } from './aggregates/downloaded.ts';
import type { DeviceEvent } from './aggregates/device.ts';

export type { LicenseEvent, DownloadedEvent, DeviceEvent };
export type DomainEvent = LicenseEvent | DownloadedEvent | DeviceEvent;
export type EventType = DomainEvent['type'];

export const AGGREGATE_NAMES = ['license', 'downloaded', 'device'] as const;
export type AggregateName = (typeof AGGREGATE_NAMES)[number];

export interface AggregateRef {
  name: AggregateName;
  id: string;
}

/** Which aggregate an event belongs to; the store clusters rows by it. */
export function aggregateOf(event: DomainEvent): AggregateRef {
  switch (event.type) {
    case 'LicenseAcquired':
    case 'LicenseRenewed':
    case 'LicenseReleased':
    case 'PlaybackRecorded':
      return { name: 'license', id: event.licenseId };
    case 'TitleDownloaded':
      return { name: 'downloaded', id: event.titleId };
    case 'DeviceRegistered':
    case 'DeviceDeactivated':
      return { name: 'device', id: event.deviceId };
  }
}

/**
 * What counts toward a limit, each count with the stored event behind it. The domain names an
 * event by what identifies it in the member's history (`eventKey`); whoever holds the stored rows
 * (the debug explanation) finds the row, its generation and position, under the same key.
 */
import type { Download } from '../aggregates/downloaded.ts';
import type { LicenseState } from '../aggregates/license.ts';
import type { DomainEvent } from '../events.ts';
import type { Instant } from '../time.ts';

export interface CountedLicense {
  kind: 'license';
  license: LicenseState;
  /** Its LicenseAcquired event. */
  event: string;
}

export type Counted =
  | CountedLicense
  /** A device holding downloads, counted by its active licenses. */
  | { kind: 'device'; deviceId: string; licenses: CountedLicense[] }
  | { kind: 'download'; titleId: string; download: Download; event: string }
  | { kind: 'renewal'; licenseId: string; renewals: number; event: string }
  | { kind: 'deactivation'; deviceId: string; at: Instant; event: string };

const key = (...parts: (string | number)[]): string => JSON.stringify(parts);

/** The key of an event that can count toward a limit; null for the others. */
export function eventKey(event: DomainEvent): string | null {
  switch (event.type) {
    case 'LicenseAcquired':
      return key(event.type, event.licenseId);
    case 'TitleDownloaded':
      return key(event.type, event.titleId, event.licenseId, event.at);
    case 'LicenseRenewed':
      return key(event.type, event.licenseId, event.renewals);
    case 'DeviceDeactivated':
      return key(event.type, event.deviceId, event.at);
    default:
      return null;
  }
}

export function countLicense(license: LicenseState): CountedLicense {
  return { kind: 'license', license, event: key('LicenseAcquired', license.licenseId) };
}

export function countDevice(deviceId: string, licenses: readonly LicenseState[]): Counted {
  return { kind: 'device', deviceId, licenses: licenses.map(countLicense) };
}

export function countDownload(titleId: string, download: Download): Counted {
  return { kind: 'download', titleId, download, event: key('TitleDownloaded', titleId, download.licenseId, download.at) };
}

/** The `renewals`-th renewal of a license (its LicenseRenewed event carries that count). */
export function countRenewal(licenseId: string, renewals: number): Counted {
  return { kind: 'renewal', licenseId, renewals, event: key('LicenseRenewed', licenseId, renewals) };
}

export function countDeactivation(deviceId: string, at: Instant): Counted {
  return { kind: 'deactivation', deviceId, at, event: key('DeviceDeactivated', deviceId, at) };
}

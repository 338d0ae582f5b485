/**
 * Serialises a member's materialised aggregates for the snapshots table. Maps become arrays
 * sorted by key, so the same state always serialises to the same bytes (tests compare them).
 * A snapshot of an unknown schema version is not an error: the repository ignores it and
 * replays the full history instead.
 */
import type { DeviceState } from '../../domain/aggregates/device.ts';
import type { DownloadedState } from '../../domain/aggregates/downloaded.ts';
import type { LicenseState } from '../../domain/aggregates/license.ts';
import { pruneExpiredRequests, type MemberState, type RequestRecord } from '../../domain/member/state.ts';

export const SNAPSHOT_SCHEMA_VERSION = 1;

interface SnapshotBodyV1 {
  licenses: LicenseState[];
  downloaded: DownloadedState[];
  devices: DeviceState[];
  requests: RequestRecord[];
  lastEventAt: number;
}

function sortedValues<T>(map: Map<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, value]) => value);
}

export function encodeMemberState(state: MemberState): string {
  // Expired request records are dead weight, and whether one is still in memory depends on
  // the order events were applied in: drop them so equal states encode equally.
  pruneExpiredRequests(state);
  const body: SnapshotBodyV1 = {
    licenses: sortedValues(state.licenses),
    downloaded: sortedValues(state.downloaded),
    devices: sortedValues(state.devices),
    requests: sortedValues(state.requests),
    lastEventAt: state.lastEventAt,
  };
  return JSON.stringify(body);
}

export class SnapshotVersionError extends Error {
  override name = 'SnapshotVersionError';
}

export function decodeMemberState(schemaVersion: number, payload: string): MemberState {
  if (schemaVersion !== SNAPSHOT_SCHEMA_VERSION) throw new SnapshotVersionError(`snapshot schema version ${schemaVersion} is not ${SNAPSHOT_SCHEMA_VERSION}`);
  const body = JSON.parse(payload) as SnapshotBodyV1;
  return {
    licenses: new Map(body.licenses.map((l) => [l.licenseId, l])),
    downloaded: new Map(body.downloaded.map((d) => [d.titleId, d])),
    devices: new Map(body.devices.map((d) => [d.deviceId, d])),
    requests: new Map(body.requests.map((r) => [r.requestId, r])),
    lastEventAt: body.lastEventAt,
  };
}

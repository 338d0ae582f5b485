/**
 * Serialises a member's materialised aggregates for the snapshots table. Maps become arrays
 * sorted by key, so the same state always serialises to the same bytes (tests compare them).
 * A snapshot of an unknown schema version, or one whose body is not what this version wrote
 * (a missing list, a time outside the representable range), is not an error: the repository
 * ignores it and replays the full history instead.
 */
import { isRepresentable } from '../../domain/time-range.ts';
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (error) {
    throw new SnapshotVersionError(`snapshot payload is not JSON: ${(error as Error).message}`);
  }
  const problem = bodyProblem(parsed);
  if (problem !== null) throw new SnapshotVersionError(`snapshot body is not version ${SNAPSHOT_SCHEMA_VERSION}: ${problem}`);
  const body = parsed as SnapshotBodyV1;
  return {
    licenses: new Map(body.licenses.map((l) => [l.licenseId, l])),
    downloaded: new Map(body.downloaded.map((d) => [d.titleId, d])),
    devices: new Map(body.devices.map((d) => [d.deviceId, d])),
    requests: new Map(body.requests.map((r) => [r.requestId, r])),
    lastEventAt: body.lastEventAt,
  };
}

type Item = Record<string, unknown>;
const isItem = (v: unknown): v is Item => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): boolean => typeof v === 'string';
const isInstant = (v: unknown): boolean => typeof v === 'number' && isRepresentable(v);
const allInstants = (v: unknown): boolean => Array.isArray(v) && v.every(isInstant);

/**
 * What is wrong with a snapshot body, or null. Checks what the service relies on when it answers
 * from the state: the keys of each map and every time it shows (a bad time would throw later,
 * when an answer formats it).
 */
function bodyProblem(body: unknown): string | null {
  if (!isItem(body)) return 'not an object';
  const lists = ['licenses', 'downloaded', 'devices', 'requests'] as const;
  for (const key of lists) if (!Array.isArray(body[key]) || !(body[key] as unknown[]).every(isItem)) return `${key} is not a list of objects`;
  if (!isInstant(body['lastEventAt'])) return 'lastEventAt is not a representable time';
  for (const l of body['licenses'] as Item[]) {
    if (!isText(l['licenseId']) || !isText(l['deviceId']) || !isText(l['titleId'])) return 'a license lacks an id';
    if (!isInstant(l['acquiredAt']) || !isInstant(l['expiresAt']) || !(l['releasedAt'] === null || isInstant(l['releasedAt'])))
      return `license ${String(l['licenseId'])} has a bad time`;
  }
  for (const d of body['downloaded'] as Item[]) {
    if (!isText(d['titleId']) || !Array.isArray(d['downloads'])) return 'a downloaded record lacks its title or downloads';
    if (!(d['downloads'] as unknown[]).every((x) => isItem(x) && isInstant(x['at']) && isText(x['licenseId']))) return `downloads of ${String(d['titleId'])} are bad`;
  }
  for (const d of body['devices'] as Item[]) {
    if (!isText(d['deviceId']) || !isInstant(d['registeredAt']) || !allInstants(d['deactivations'])) return `device ${String(d['deviceId'])} is bad`;
  }
  for (const r of body['requests'] as Item[]) {
    const answer = r['answer'];
    if (!isText(r['requestId']) || !isInstant(r['at']) || !isText(r['fingerprint']) || !isItem(answer)) return 'a request record is bad';
    for (const key of ['expiresAt', 'releasedAt']) if (Object.hasOwn(answer, key) && !isInstant(answer[key])) return `request ${String(r['requestId'])} has a bad ${key}`;
  }
  return null;
}

/**
 * Serialises a member's materialised aggregates for the snapshots table. Tables become arrays
 * sorted by key, so the same state always serialises to the same bytes (tests compare them).
 * A snapshot of an unknown schema version, or one whose body is not what its version wrote
 * (a missing list, a time outside the representable range), is not an error: the repository
 * ignores it and replays the full history instead.
 *
 * Version 2 (this code writes it): the state as retention.ts prunes it, with
 * `releasedPrunedThrough` (how far released licenses were dropped), and request records
 * without their fingerprint (it follows from the answer). Version 1 (before pruning) is read by
 * upcasting: no license was dropped (`releasedPrunedThrough` null).
 */
import { isRepresentable } from '../../domain/time-range.ts';
import { NO_DEACTIVATIONS, type DeviceState } from '../../domain/aggregates/device.ts';
import type { DownloadedState } from '../../domain/aggregates/downloaded.ts';
import type { LicenseState } from '../../domain/aggregates/license.ts';
import type { CommandAnswer } from '../../domain/member/answers.ts';
import { DownloadLog } from '../../domain/member/download-log.ts';
import { DeviceTable, LicenseTable, REQUEST_DEDUP_WINDOW_MS, RequestLog, type MemberState, type RequestRecord } from '../../domain/member/state.ts';

export const SNAPSHOT_SCHEMA_VERSION = 2;
/** The versions this code reads. */
const READABLE_VERSIONS = new Set([1, 2]);

interface StoredRequest {
  requestId: string;
  at: number;
  answer: CommandAnswer;
}

interface SnapshotBodyV2 {
  licenses: LicenseState[];
  downloaded: DownloadedState[];
  devices: DeviceState[];
  requests: StoredRequest[];
  lastEventAt: number;
  releasedPrunedThrough: number | null;
}

/** Version 1 also stored each request's fingerprint; it had no releasedPrunedThrough. */
type SnapshotBodyV1 = Omit<SnapshotBodyV2, 'releasedPrunedThrough'>;

const byKey = <T>([a]: [string, T], [b]: [string, T]): number => (a < b ? -1 : a > b ? 1 : 0);

function sortedValues<T>(table: Iterable<[string, T]>): T[] {
  return [...table].sort(byKey).map(([, value]) => value);
}

export function encodeMemberState(state: MemberState): string {
  // Only the live request records: whether an expired one is still in memory depends on when
  // the log was last pruned (requests.ts), and equal states must encode equally.
  const cutoff = state.lastEventAt - REQUEST_DEDUP_WINDOW_MS;
  const requests = [...state.requests.entries()]
    .filter(([, record]) => record.at > cutoff)
    .sort(byKey)
    .map(([requestId, record]) => ({ requestId, at: record.at, answer: record.answer }));
  const body: SnapshotBodyV2 = {
    licenses: sortedValues(state.licenses),
    downloaded: sortedValues(state.downloaded).map(({ titleId, downloads }) => ({ titleId, downloads: downloads.map(({ at, licenseId, via }) => ({ at, licenseId, via })) })),
    devices: sortedValues(state.devices),
    requests,
    lastEventAt: state.lastEventAt,
    releasedPrunedThrough: state.releasedPrunedThrough,
  };
  return JSON.stringify(body);
}

export class SnapshotVersionError extends Error {
  override name = 'SnapshotVersionError';
}

export function decodeMemberState(schemaVersion: number, payload: string): MemberState {
  if (!READABLE_VERSIONS.has(schemaVersion)) throw new SnapshotVersionError(`snapshot schema version ${schemaVersion} is not one of ${[...READABLE_VERSIONS].join(', ')}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (error) {
    throw new SnapshotVersionError(`snapshot payload is not JSON: ${(error as Error).message}`);
  }
  const problem = bodyProblem(parsed, schemaVersion);
  if (problem !== null) throw new SnapshotVersionError(`snapshot body is not version ${schemaVersion}: ${problem}`);
  const body = schemaVersion === 1 ? upcastV1(parsed as SnapshotBodyV1) : (parsed as SnapshotBodyV2);
  return {
    licenses: new LicenseTable(body.licenses),
    downloaded: DownloadLog.of(body.downloaded),
    devices: new DeviceTable(body.devices.map((d) => (d.deactivations.length === 0 ? { ...d, deactivations: NO_DEACTIVATIONS } : d))),
    requests: RequestLog.of(body.requests.map((r): [string, RequestRecord] => [r.requestId, { at: r.at, answer: r.answer }])),
    lastEventAt: body.lastEventAt,
    releasedPrunedThrough: body.releasedPrunedThrough,
  };
}

function upcastV1(body: SnapshotBodyV1): SnapshotBodyV2 {
  return { ...body, releasedPrunedThrough: null };
}

type Item = Record<string, unknown>;
const isItem = (v: unknown): v is Item => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): boolean => typeof v === 'string';
const isInstant = (v: unknown): boolean => typeof v === 'number' && isRepresentable(v);
const allInstants = (v: unknown): boolean => Array.isArray(v) && v.every(isInstant);

/**
 * What is wrong with a snapshot body, or null. Checks what the service relies on when it answers
 * from the state: the keys of each table and every time it shows (a bad time would throw later,
 * when an answer formats it).
 */
function bodyProblem(body: unknown, schemaVersion: number): string | null {
  if (!isItem(body)) return 'not an object';
  const lists = ['licenses', 'downloaded', 'devices', 'requests'] as const;
  for (const key of lists) if (!Array.isArray(body[key]) || !(body[key] as unknown[]).every(isItem)) return `${key} is not a list of objects`;
  if (!isInstant(body['lastEventAt'])) return 'lastEventAt is not a representable time';
  if (schemaVersion >= 2) {
    const through = body['releasedPrunedThrough'];
    // now - retention: compared with release times only, so it may lie before 1970.
    if (!(through === null || (Number.isInteger(through) && (through as number) <= (body['lastEventAt'] as number))))
      return 'releasedPrunedThrough is neither null nor a time before lastEventAt';
  }
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
    if (!isText(r['requestId']) || !isInstant(r['at']) || !isItem(answer) || !isText(answer['kind'])) return 'a request record is bad';
    if (schemaVersion === 1 && !isText(r['fingerprint'])) return `request ${String(r['requestId'])} lacks its fingerprint`;
    for (const key of ['expiresAt', 'releasedAt']) if (Object.hasOwn(answer, key) && !isInstant(answer[key])) return `request ${String(r['requestId'])} has a bad ${key}`;
  }
  return null;
}

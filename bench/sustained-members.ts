/**
 * What the members the cache held were made of, after a sustained run: the hottest members of
 * the Zipf draw (rank 0 up; under an LRU these are the ones held) loaded from the run's SQLite
 * file exactly as a cache miss loads them (MemberRepository, the run's config), and their byte
 * estimate (approximateMemberBytes, the cache's own) split by part: the estimate again with
 * the request records left out, and with the released licenses left out.
 */
import { loadConfig } from '../src/config/load.ts';
import { RequestLog } from '../src/domain/member/requests.ts';
import type { MemberState } from '../src/domain/member/state.ts';
import { approximateMemberBytes } from '../src/service/license-service.ts';
import { MemberRepository, type LoadedMember } from '../src/service/member-repository.ts';
import { SqliteEventStore } from '../src/store/sqlite/sqlite-event-store.ts';

export interface MemberBreakdown {
  /** Members looked at: ranks 0 to members - 1. */
  members: number;
  /** Averages per member. */
  licenses: number;
  activeLicenses: number;
  releasedLicenses: number;
  downloads: number;
  devices: number;
  requestRecords: number;
  estimateBytes: number;
  /** How much of the estimate the request records and the released licenses account for. */
  requestRecordBytes: number;
  releasedLicenseBytes: number;
  /** The largest member's estimate, bytes. */
  largestEstimateBytes: number;
}

function estimateOf(memberId: string, state: MemberState): number {
  return approximateMemberBytes({ memberId, state } as LoadedMember);
}

export async function memberBreakdown(configPath: string, idPrefix: string, members: number): Promise<MemberBreakdown> {
  const { service } = loadConfig({ argv: ['--config', configPath], env: {} });
  const store = new SqliteEventStore(service.sqlite.path);
  const repository = new MemberRepository(store, { ...service.snapshot, releasedLicenseRetentionDays: service.retention.releasedLicenseDays });
  const totals = { licenses: 0, activeLicenses: 0, downloads: 0, devices: 0, requestRecords: 0, estimateBytes: 0, requestRecordBytes: 0, releasedLicenseBytes: 0 };
  let largest = 0;
  try {
    for (let rank = 0; rank < members; rank++) {
      const memberId = `${idPrefix}-${rank}`;
      const { state } = await repository.load(memberId);
      let active = 0;
      for (const license of state.licenses.values()) if (license.releasedAt === null) active += 1;
      const estimate = estimateOf(memberId, state);
      largest = Math.max(largest, estimate);
      totals.licenses += state.licenses.size;
      totals.activeLicenses += active;
      totals.downloads += state.downloaded.downloads.length;
      totals.devices += state.devices.size;
      totals.requestRecords += state.requests.size;
      totals.estimateBytes += estimate;
      totals.requestRecordBytes += estimate - estimateOf(memberId, { ...state, requests: RequestLog.EMPTY });
      totals.releasedLicenseBytes += estimate - estimateOf(memberId, { ...state, licenses: state.licenses.filter((license) => license.releasedAt === null) });
    }
  } finally {
    await store.close();
  }
  const average = (n: number): number => n / Math.max(1, members);
  return {
    members,
    licenses: average(totals.licenses),
    activeLicenses: average(totals.activeLicenses),
    releasedLicenses: average(totals.licenses - totals.activeLicenses),
    downloads: average(totals.downloads),
    devices: average(totals.devices),
    requestRecords: average(totals.requestRecords),
    estimateBytes: average(totals.estimateBytes),
    requestRecordBytes: average(totals.requestRecordBytes),
    releasedLicenseBytes: average(totals.releasedLicenseBytes),
    largestEstimateBytes: largest,
  };
}

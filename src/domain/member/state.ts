/**
 * A member's materialised aggregates: its licenses, downloaded records and devices, keyed by
 * aggregate id, plus the request ids seen in the dedup window. This is what an actor keeps in
 * memory and what a snapshot serialises; retention.ts says what leaves it once no decision can
 * need it, so it stays bounded whatever the length of the member's history.
 *
 * The per-aggregate `evolve` functions are pure. `applyEvent` routes an event to its aggregate
 * (the talk's "bucketing by aggregate id") and updates the tables in place: the member state is
 * owned by one fold at a time, and copying every table per event would make replay quadratic.
 */
import { evolveLicense, type LicenseState } from '../aggregates/license.ts';
import { evolveDevice, type DeviceState } from '../aggregates/device.ts';
import type { DomainEvent } from '../events.ts';
import type { Instant } from '../time.ts';
import { answerOfPrimaryEvent } from './answers.ts';
import { DownloadLog } from './download-log.ts';
import { RequestLog } from './requests.ts';
import { Table } from './table.ts';

export { REQUEST_DEDUP_WINDOW_MS, RequestLog, type RequestRecord } from './requests.ts';

export interface MemberState {
  licenses: Table<LicenseState>;
  downloaded: DownloadLog;
  devices: Table<DeviceState>;
  requests: RequestLog;
  /** Time of the newest applied event; new events are never stamped earlier (see the repository). */
  lastEventAt: Instant;
  /**
   * Licenses released at or before this instant have left the state (retention.ts); null while
   * none has. Decisions never read it; a LICENSE_NOT_FOUND answer names it.
   */
  releasedPrunedThrough: Instant | null;
}

export interface EventMetadata {
  rulesVersion: string;
  requestId?: string | undefined;
  /** The HTTP request that caused the events; carried to the store for tracing, never decided on. */
  correlationId?: string | undefined;
}

export class LicenseTable extends Table<LicenseState> {
  protected keyOf(license: LicenseState): string {
    return license.licenseId;
  }
  protected empty(): LicenseTable {
    return new LicenseTable();
  }
}

export class DeviceTable extends Table<DeviceState> {
  protected keyOf(device: DeviceState): string {
    return device.deviceId;
  }
  protected empty(): DeviceTable {
    return new DeviceTable();
  }
}

export function initialMemberState(): MemberState {
  return { licenses: new LicenseTable(), downloaded: new DownloadLog(), devices: new DeviceTable(), requests: RequestLog.EMPTY, lastEventAt: 0, releasedPrunedThrough: null };
}

export function applyEvent(state: MemberState, event: DomainEvent, metadata: EventMetadata): MemberState {
  switch (event.type) {
    case 'LicenseAcquired':
    case 'LicenseRenewed':
    case 'LicenseReleased':
    case 'PlaybackRecorded': {
      const next = evolveLicense(state.licenses.get(event.licenseId) ?? null, event);
      if (next === null) throw new Error(`event ${event.type} for unknown license ${event.licenseId}`);
      state.licenses.set(event.licenseId, next);
      break;
    }
    case 'TitleDownloaded':
      state.downloaded.add(event);
      break;
    case 'DeviceRegistered':
    case 'DeviceDeactivated':
      state.devices.set(event.deviceId, evolveDevice(state.devices.get(event.deviceId) ?? null, event));
      break;
  }
  state.lastEventAt = Math.max(state.lastEventAt, event.at);
  recordRequest(state, event, metadata);
  return state;
}

function recordRequest(state: MemberState, event: DomainEvent, metadata: EventMetadata): void {
  if (metadata.requestId === undefined) return;
  const answer = answerOfPrimaryEvent(event, metadata.rulesVersion);
  if (answer === undefined) return;
  // A replay may apply events out of time order (the older row layout returns a generation
  // aggregate by aggregate), so the window ends at the newest event seen, not the event at hand.
  state.requests = state.requests.recorded(metadata.requestId, { at: event.at, answer }, state.lastEventAt);
}

export function activeLicenses(state: MemberState): LicenseState[] {
  const active: LicenseState[] = [];
  for (const license of state.licenses.values()) if (license.releasedAt === null) active.push(license);
  return active;
}

/** The active licenses by the device holding them, devices in the order of their first license. */
export function activeByDevice(state: MemberState): Map<string, LicenseState[]> {
  const byDevice = new Map<string, LicenseState[]>();
  for (const license of activeLicenses(state)) {
    const list = byDevice.get(license.deviceId);
    if (list) list.push(license);
    else byDevice.set(license.deviceId, [license]);
  }
  return byDevice;
}

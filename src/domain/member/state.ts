/**
 * A member's materialised aggregates: every license, downloaded record and device, keyed by
 * aggregate id, plus the request ids seen in the dedup window. This is what an actor keeps in
 * memory and what a snapshot serialises.
 *
 * The per-aggregate `evolve` functions are pure. `applyEvent` routes an event to its aggregate
 * (the talk's "bucketing by aggregate id") and updates the maps in place: the member state is
 * owned by one fold at a time, and copying every map per event would make replay quadratic.
 */
import { evolveLicense, type LicenseState } from '../aggregates/license.ts';
import { evolveDownloaded, type DownloadedState } from '../aggregates/downloaded.ts';
import { evolveDevice, type DeviceState } from '../aggregates/device.ts';
import type { DomainEvent } from '../events.ts';
import { DAY_MS, type Instant } from '../time.ts';
import { answerOfPrimaryEvent, fingerprintOfAnswer, type CommandAnswer } from './answers.ts';

/** A repeat of a request id within this window returns the first answer and writes nothing. */
export const REQUEST_DEDUP_WINDOW_MS = DAY_MS;

export interface RequestRecord {
  requestId: string;
  at: Instant;
  fingerprint: string;
  answer: CommandAnswer;
}

export interface MemberState {
  licenses: Map<string, LicenseState>;
  downloaded: Map<string, DownloadedState>;
  devices: Map<string, DeviceState>;
  requests: Map<string, RequestRecord>;
  /** Time of the newest applied event; new events are never stamped earlier (see the repository). */
  lastEventAt: Instant;
}

export interface EventMetadata {
  rulesVersion: string;
  requestId?: string | undefined;
  /** The HTTP request that caused the events; carried to the store for tracing, never decided on. */
  correlationId?: string | undefined;
}

export function initialMemberState(): MemberState {
  return { licenses: new Map(), downloaded: new Map(), devices: new Map(), requests: new Map(), lastEventAt: 0 };
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
      state.downloaded.set(event.titleId, evolveDownloaded(state.downloaded.get(event.titleId) ?? null, event));
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
  // Replay applies events aggregate by aggregate, not in time order, so expiry is judged
  // against the newest event seen rather than the event at hand, and an older use of a
  // request id (reused after its window) must not replace the newer one already applied.
  const existing = state.requests.get(metadata.requestId);
  if (existing !== undefined && existing.at > event.at) return;
  pruneExpiredRequests(state);
  state.requests.set(metadata.requestId, {
    requestId: metadata.requestId,
    at: event.at,
    fingerprint: fingerprintOfAnswer(answer),
    answer,
  });
}

/** Drops request records that fell out of the dedup window ending at the newest event. */
export function pruneExpiredRequests(state: MemberState): void {
  const cutoff = state.lastEventAt - REQUEST_DEDUP_WINDOW_MS;
  for (const [id, record] of state.requests) if (record.at <= cutoff) state.requests.delete(id);
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

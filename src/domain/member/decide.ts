/**
 * The member decider: turns a command into events or a refusal, reading the member's
 * aggregates and the rules in force. Limits that span aggregates (devices holding downloads,
 * per-studio concurrency, the yearly title count) are read here; each aggregate's own decider
 * guards its lifecycle. Pure: no I/O, no clock, no randomness.
 */
import { decideLicense, type LicenseState } from '../aggregates/license.ts';
import { decideDownloaded } from '../aggregates/downloaded.ts';
import { decideDevice } from '../aggregates/device.ts';
import type { DomainEvent } from '../events.ts';
import { isRefusal, refuse, type Refusal } from '../refusal.ts';
import { planRules, reached, titlePolicy, type Rules } from '../rules.ts';
import { inRollingYear } from '../time.ts';
import type { CommandAnswer } from './answers.ts';
import { fingerprintOfCommand, type AcquireLicense, type DeactivateDevice, type MemberCommand, type RecordPlayback, type ReleaseLicense, type RenewLicense } from './commands.ts';
import { activeLicenses, REQUEST_DEDUP_WINDOW_MS, type MemberState } from './state.ts';

export interface Decision {
  events: DomainEvent[];
  answer: CommandAnswer;
  /** True when the answer is the stored one of an earlier command with the same request id. */
  repeated: boolean;
}

/** A request id already used, within the window, for a different command. */
export interface RequestIdReused {
  requestIdReused: true;
  requestId: string;
}

export function decide(command: MemberCommand, state: MemberState, rules: Rules): Decision | Refusal | RequestIdReused {
  if (command.requestId !== undefined) {
    const earlier = state.requests.get(command.requestId);
    if (earlier !== undefined && earlier.at > command.now - REQUEST_DEDUP_WINDOW_MS) {
      if (earlier.fingerprint !== fingerprintOfCommand(command)) return { requestIdReused: true, requestId: command.requestId };
      return { events: [], answer: earlier.answer, repeated: true };
    }
  }
  switch (command.type) {
    case 'AcquireLicense':
      return decideAcquire(command, state, rules);
    case 'RenewLicense':
      return decideRenew(command, state, rules);
    case 'ReleaseLicense':
      return decideRelease(command, state);
    case 'RecordPlayback':
      return decidePlayback(command, state);
    case 'DeactivateDevice':
      return decideDeactivate(command, state, rules);
  }
}

export function decideAcquire(command: AcquireLicense, state: MemberState, rules: Rules): Decision | Refusal {
  const { now, deviceId, titleId } = command;
  const plan = planRules(rules, command.plan);
  // The application layer validates the plan against the same rules before deciding.
  if (plan === undefined) throw new Error(`unknown plan ${command.plan ?? rules.defaults.plan}`);
  const policy = titlePolicy(rules, titleId);
  const active = activeLicenses(state);

  const byDevice = groupByDevice(active);
  const onThisDevice = byDevice.get(deviceId) ?? [];
  // The limit holds after the acquire too: a device already holding downloads adds no device,
  // but a member already over the plan's limit (e.g. after a downgrade) may add downloads nowhere.
  const otherDevices = byDevice.size - (byDevice.has(deviceId) ? 1 : 0);
  if (reached(plan.limits.maxDownloadDevices, otherDevices)) {
    const devices = [...byDevice].map(([id, licenses]) => ({ deviceId: id, activeLicenses: licenses.length }));
    return refuse(
      'DEVICE_LIMIT',
      `Plan ${plan.plan} allows downloads on ${plan.limits.maxDownloadDevices} device(s) at once and ${byDevice.size} already hold downloads (${[...byDevice.keys()].join(', ')}). Release the downloads on one of them first.`,
      { plan: plan.plan, limit: plan.limits.maxDownloadDevices, devicesHoldingDownloads: devices },
    );
  }
  if (reached(rules.maxActiveDownloadsPerDevice, onThisDevice.length)) {
    return refuse(
      'DEVICE_DOWNLOAD_LIMIT',
      `Device ${deviceId} holds ${onThisDevice.length} downloads (limit ${rules.maxActiveDownloadsPerDevice}). Release one on this device first.`,
      { deviceId, limit: rules.maxActiveDownloadsPerDevice, activeLicenseIds: onThisDevice.map((l) => l.licenseId) },
    );
  }
  if (policy.studioId !== null) {
    const studioActive = active.filter((l) => l.studioId === policy.studioId);
    if (reached(policy.maxActiveDownloadsPerStudio, studioActive.length)) {
      return refuse(
        'STUDIO_LIMIT',
        `${studioActive.length} downloads from studio ${policy.studioId} are active (limit ${policy.maxActiveDownloadsPerStudio}). Release one of its titles first.`,
        {
          studioId: policy.studioId,
          limit: policy.maxActiveDownloadsPerStudio,
          activeLicenses: studioActive.map((l) => ({ licenseId: l.licenseId, titleId: l.titleId, deviceId: l.deviceId })),
        },
      );
    }
  }
  const counted = decideDownloaded(
    { type: 'CountDownload', now, titleId, licenseId: command.licenseId, deviceId, via: 'acquire', yearlyTitleLimit: policy.yearlyTitleLimit },
    state.downloaded.get(titleId) ?? null,
  );
  if (isRefusal(counted)) return counted;
  const created = decideLicense(
    {
      type: 'CreateLicense',
      now,
      licenseId: command.licenseId,
      deviceId,
      titleId,
      studioId: policy.studioId,
      licenseWindowDays: policy.licenseWindowDays,
    },
    null,
  );
  if (isRefusal(created)) return created;
  const registered = decideDevice({ type: 'RegisterDevice', now, deviceId }, state.devices.get(deviceId) ?? null);
  if (isRefusal(registered)) return registered;
  const acquired = created[0];
  if (acquired?.type !== 'LicenseAcquired') throw new Error('CreateLicense must yield LicenseAcquired');
  return {
    events: [...created, ...counted, ...registered],
    answer: {
      kind: 'acquire',
      licenseId: acquired.licenseId,
      deviceId,
      titleId,
      studioId: policy.studioId,
      expiresAt: acquired.expiresAt,
      rulesVersion: rules.version,
    },
    repeated: false,
  };
}

function decideRenew(command: RenewLicense, state: MemberState, rules: Rules): Decision | Refusal {
  const license = state.licenses.get(command.licenseId) ?? null;
  const policy = titlePolicy(rules, license?.titleId ?? '');
  const renewed = decideLicense(
    {
      type: 'RenewLicense',
      now: command.now,
      licenseId: command.licenseId,
      deviceId: command.deviceId,
      licenseWindowDays: policy.licenseWindowDays,
      maxRenewals: policy.maxRenewals,
    },
    license,
  );
  if (isRefusal(renewed)) return renewed;
  const event = renewed[0];
  if (license === null || event?.type !== 'LicenseRenewed') throw new Error('RenewLicense must yield LicenseRenewed');
  const events: DomainEvent[] = [...renewed];
  if (policy.renewalCountsTowardYearlyLimit) {
    const counted = decideDownloaded(
      {
        type: 'CountDownload',
        now: command.now,
        titleId: license.titleId,
        licenseId: license.licenseId,
        deviceId: license.deviceId,
        via: 'renew',
        yearlyTitleLimit: policy.yearlyTitleLimit,
      },
      state.downloaded.get(license.titleId) ?? null,
    );
    if (isRefusal(counted)) return counted;
    events.push(...counted);
  }
  return {
    events,
    answer: { kind: 'renew', licenseId: license.licenseId, expiresAt: event.expiresAt, renewals: event.renewals },
    repeated: false,
  };
}

function decideRelease(command: ReleaseLicense, state: MemberState): Decision | Refusal {
  const license = state.licenses.get(command.licenseId) ?? null;
  const released = decideLicense(
    { type: 'ReleaseLicense', now: command.now, licenseId: command.licenseId, deviceId: command.deviceId, cause: 'member' },
    license,
  );
  if (isRefusal(released)) return released;
  const releasedAt = released[0]?.at ?? license?.releasedAt ?? command.now;
  return { events: released, answer: { kind: 'release', licenseId: command.licenseId, releasedAt }, repeated: false };
}

function decidePlayback(command: RecordPlayback, state: MemberState): Decision | Refusal {
  const recorded = decideLicense(
    { type: 'RecordPlayback', now: command.now, licenseId: command.licenseId, deviceId: command.deviceId, sessions: command.sessions },
    state.licenses.get(command.licenseId) ?? null,
  );
  if (isRefusal(recorded)) return recorded;
  return { events: recorded, answer: { kind: 'playback', licenseId: command.licenseId, recorded: command.sessions.length }, repeated: false };
}

function decideDeactivate(command: DeactivateDevice, state: MemberState, rules: Rules): Decision | Refusal {
  const { now, deviceId } = command;
  const onDevice = activeLicenses(state).filter((l) => l.deviceId === deviceId);
  const memberDeactivationsInYear = [...state.devices.values()]
    .flatMap((d) => d.deactivations)
    .filter((at) => inRollingYear(at, now))
    .sort((a, b) => a - b);
  const deactivated = decideDevice(
    {
      type: 'DeactivateDevice',
      now,
      deviceId,
      activeLicenseIds: onDevice.map((l) => l.licenseId),
      memberDeactivationsInYear,
      maxDeactivationsPerYear: rules.maxDeviceDeactivationsPerYear,
    },
    state.devices.get(deviceId) ?? null,
  );
  if (isRefusal(deactivated)) return deactivated;
  const events: DomainEvent[] = [...deactivated];
  if (deactivated.length > 0) {
    for (const license of onDevice) {
      const released = decideLicense({ type: 'ReleaseLicense', now, licenseId: license.licenseId, cause: 'device-deactivated' }, license);
      if (isRefusal(released)) return released;
      events.push(...released);
    }
  }
  const releasedLicenseIds = deactivated.length > 0 ? onDevice.map((l) => l.licenseId) : [];
  return { events, answer: { kind: 'deactivate', deviceId, releasedLicenseIds }, repeated: false };
}

function groupByDevice(licenses: LicenseState[]): Map<string, LicenseState[]> {
  const byDevice = new Map<string, LicenseState[]>();
  for (const license of licenses) {
    const list = byDevice.get(license.deviceId);
    if (list) list.push(license);
    else byDevice.set(license.deviceId, [license]);
  }
  return byDevice;
}

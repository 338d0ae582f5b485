/**
 * The fallback answers. When the service cannot answer, the edge must not stop members from
 * watching: it answers what the service would answer a member with no licenses and no
 * downloads. Such a member is under every limit, so a check and an acquire are allowed, there
 * is nothing to list, and renew, release, playback and deactivate are accepted. Whatever the
 * service did not see it cannot count: the risk (a member over a limit during an outage) is the
 * one the business accepted in exchange for never blocking playback on an accounting outage.
 */
import { randomUUID } from 'node:crypto';
import type { AcquireInput, CheckFallback, DeactivationFallback, FallbackLicense, LicenseListFallback, PlaybackFallback, ReleaseFallback, RenewalFallback } from './types.ts';

export const checkFallback = (): CheckFallback => ({ allowed: true, rulesVersion: null });

export const listFallback = (): LicenseListFallback => ({ licenses: [] });

/**
 * Allowed, with a license id minted here so the player can carry on as with a real license
 * (and release it later: the service will answer LICENSE_NOT_FOUND for it, which is harmless).
 * The id is a UUID like the service's, yet it never collides with one. Expiry, studio and rules
 * version are null: nobody decided them. Callers that must tell the two apart read `fallback`.
 */
export function acquireFallback(memberId: string, input: AcquireInput): FallbackLicense {
  return { licenseId: randomUUID(), memberId, deviceId: input.deviceId, titleId: input.titleId, studioId: null, expiresAt: null, rulesVersion: null };
}

export const renewFallback = (licenseId: string): RenewalFallback => ({ licenseId, expiresAt: null, renewals: null });

export const releaseFallback = (licenseId: string): ReleaseFallback => ({ licenseId, releasedAt: null });

/** Accepted; how many sessions the service would have recorded is unknown. */
export const playbackFallback = (licenseId: string): PlaybackFallback => ({ licenseId, recorded: null });

/** A member with no licenses has none on the device to release. */
export const deactivateFallback = (deviceId: string): DeactivationFallback => ({ deviceId, releasedLicenseIds: [] });

/**
 * One string per id in a loaded member. A state folded from stored rows, or decoded from a
 * snapshot, holds a separate copy of an id wherever it appears (a license id in its license, in
 * the title's download and in a request's answer; a device id in each of its licenses): JSON
 * parsing makes a new string for every value longer than a few characters, about 56 bytes for
 * a UUID. The live path already shares them (one command's events carry the same strings).
 *
 * Replaces every copy by one instance. Changes no value: only which equal string is referenced.
 */
import type { CommandAnswer } from './answers.ts';
import type { MemberState } from './state.ts';

export function shareIds(state: MemberState): void {
  const ids = new Map<string, string>();
  const one = (id: string): string => {
    const known = ids.get(id);
    if (known !== undefined) return known;
    ids.set(id, id);
    return id;
  };
  for (const device of state.devices.values()) one(device.deviceId);
  // Titles first, so a license points at the string its title's downloads share.
  for (const download of state.downloaded.downloads) download.titleId = one(download.titleId);
  for (const license of state.licenses.values()) {
    one(license.licenseId);
    license.deviceId = one(license.deviceId);
    license.titleId = one(license.titleId);
  }
  for (const download of state.downloaded.downloads) download.licenseId = one(download.licenseId);
  for (const [, record] of state.requests.entries()) shareAnswerIds(record.answer, one);
}

function shareAnswerIds(answer: CommandAnswer, one: (id: string) => string): void {
  switch (answer.kind) {
    case 'acquire':
      answer.licenseId = one(answer.licenseId);
      answer.deviceId = one(answer.deviceId);
      answer.titleId = one(answer.titleId);
      break;
    case 'renew':
    case 'release':
    case 'playback':
      answer.licenseId = one(answer.licenseId);
      break;
    case 'deactivate':
      answer.deviceId = one(answer.deviceId);
      answer.releasedLicenseIds = answer.releasedLicenseIds.map(one);
      break;
  }
}

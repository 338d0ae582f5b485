/**
 * The grammar of every identifier the service accepts from outside, in one place: the HTTP
 * schemas, the X-Request-Id header, the CLI and the load generator check ids against ID_PATTERN;
 * the config, the cluster flags and the cluster routes check node and cluster ids against
 * NODE_ID_PATTERN. Ids go into logs, store keys and URLs: a narrow grammar keeps them inert there.
 */

/** The characters of a member, device, title, license or request id. */
export const ID_CHARACTERS = 'A-Za-z0-9._:-';
export const ID_MAX_LENGTH = 128;
export const ID_PATTERN = `^[${ID_CHARACTERS}]{1,${ID_MAX_LENGTH}}$`;

/** The characters of a cluster or node id: no ':', which separates host and port in addresses. */
const NODE_ID_CHARACTERS = 'A-Za-z0-9._-';
const NODE_ID_MAX_LENGTH = 64;
export const NODE_ID_PATTERN = `^[${NODE_ID_CHARACTERS}]{1,${NODE_ID_MAX_LENGTH}}$`;
/** NODE_ID_PATTERN in words, for messages that refuse a node id. */
export const NODE_ID_GRAMMAR = "1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

const ID = new RegExp(ID_PATTERN);
const NODE_ID = new RegExp(NODE_ID_PATTERN);

export function isId(value: string): boolean {
  return ID.test(value);
}

export function isNodeId(value: string): boolean {
  return NODE_ID.test(value);
}

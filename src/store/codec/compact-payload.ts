/**
 * The compact binary form of event payloads (the Cassandra store's `events_v2.body`), and the
 * small integer that names an event type and schema version (`events_v2.kind`).
 *
 * Each (type, version) has a fixed field list; a payload is its fields in that order: ids as 16
 * bytes when they are lower-case UUIDs (license ids are), else length + UTF-8; times as the
 * zig-zag varint of their distance from the row's own time (an expiry 30 days ahead is 5 bytes,
 * not 13 characters); counts as varints; enums as one byte. Encoding is only ever used when it
 * is exact: the encoder decodes its own output and compares the JSON text with the row's
 * payload, and a payload that does not come back byte for byte (another key order, an extra
 * field, a value of an unexpected type) is stored as its JSON text instead. So every row reads
 * back exactly as it was written, and the codec can only ever cost compactness, never a value.
 *
 * Kind codes are forever: a code, once written, must keep meaning the same type and version.
 * A new schema version gets a new code (and its field list, or null for JSON only).
 */
import type { EventType } from '../../domain/events.ts';

type FieldKind = 'id' | 'idOrNull' | 'time' | 'count' | 'ids' | 'sessions' | { enum: readonly string[] };

interface KindSpec {
  code: number;
  type: EventType | 'EventVoided';
  version: number;
  /** Field order of the binary form (the order the domain builds the event in); null: JSON only. */
  fields: readonly (readonly [string, FieldKind])[] | null;
}

const KINDS: readonly KindSpec[] = [
  {
    code: 1,
    type: 'LicenseAcquired',
    version: 1,
    fields: [
      ['licenseId', 'id'],
      ['deviceId', 'id'],
      ['titleId', 'id'],
      ['studioId', 'idOrNull'],
      ['expiresAt', 'time'],
    ],
  },
  {
    code: 2,
    type: 'LicenseRenewed',
    version: 1,
    fields: [
      ['licenseId', 'id'],
      ['expiresAt', 'time'],
      ['renewals', 'count'],
    ],
  },
  { code: 3, type: 'LicenseReleased', version: 1, fields: [['licenseId', 'id']] },
  {
    code: 4,
    type: 'LicenseReleased',
    version: 2,
    fields: [
      ['licenseId', 'id'],
      ['cause', { enum: ['member', 'device-deactivated'] }],
    ],
  },
  {
    code: 5,
    type: 'PlaybackRecorded',
    version: 1,
    fields: [
      ['licenseId', 'id'],
      ['sessions', 'sessions'],
    ],
  },
  {
    code: 6,
    type: 'TitleDownloaded',
    version: 1,
    fields: [
      ['titleId', 'id'],
      ['licenseId', 'id'],
      ['deviceId', 'id'],
      ['via', { enum: ['acquire', 'renew'] }],
    ],
  },
  { code: 7, type: 'DeviceRegistered', version: 1, fields: [['deviceId', 'id']] },
  {
    code: 8,
    type: 'DeviceDeactivated',
    version: 1,
    fields: [
      ['deviceId', 'id'],
      ['releasedLicenseIds', 'ids'],
    ],
  },
  // An operator's void (void-codec.ts): rare, kept as JSON.
  { code: 9, type: 'EventVoided', version: 1, fields: null },
];

const BY_CODE = new Map(KINDS.map((kind) => [kind.code, kind]));
const BY_TYPE_VERSION = new Map(KINDS.map((kind) => [`${kind.type}@${kind.version}`, kind]));

/** Every (type, version) that has a kind code (a test holds this against the codec's schemas). */
export function kindsKnown(): { type: string; version: number; code: number; binary: boolean }[] {
  return KINDS.map((k) => ({ type: k.type, version: k.version, code: k.code, binary: k.fields !== null }));
}

export function kindCodeOf(type: string, version: number): number | null {
  return BY_TYPE_VERSION.get(`${type}@${version}`)?.code ?? null;
}

export function kindOfCode(code: number): { type: string; version: number } | null {
  const kind = BY_CODE.get(code);
  return kind ? { type: kind.type, version: kind.version } : null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical lower-case UUID: the only form stored as 16 bytes, since it is the only one that reads back the same. */
export function isCanonicalUuid(value: string): boolean {
  return UUID.test(value);
}

/** Bytes appended in order: varints, single bytes, raw buffers. */
export class Writer {
  readonly #chunks: Buffer[] = [];
  byte(value: number): void {
    this.#chunks.push(Buffer.of(value));
  }
  varint(value: number): void {
    const bytes: number[] = [];
    let rest = value;
    while (rest >= 128) {
      bytes.push((rest % 128) + 128);
      rest = Math.floor(rest / 128);
    }
    bytes.push(rest);
    this.#chunks.push(Buffer.from(bytes));
  }
  bytes(buffer: Buffer): void {
    this.#chunks.push(buffer);
  }
  done(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/** The matching reader; throws on a body that ends early. */
export class Reader {
  #at = 0;
  constructor(readonly buffer: Buffer) {}
  byte(): number {
    if (this.#at >= this.buffer.length) throw new Error('payload ends early');
    return this.buffer[this.#at++] as number;
  }
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      value += (b % 128) * scale;
      if (b < 128) return value;
      scale *= 128;
      if (scale > 2 ** 56) throw new Error('varint too long');
    }
  }
  bytes(length: number): Buffer {
    if (this.#at + length > this.buffer.length) throw new Error('payload ends early');
    const out = this.buffer.subarray(this.#at, this.#at + length);
    this.#at += length;
    return out;
  }
  /** Every byte not read yet. */
  rest(): Buffer {
    const out = this.buffer.subarray(this.#at);
    this.#at = this.buffer.length;
    return out;
  }
  get finished(): boolean {
    return this.#at === this.buffer.length;
  }
}

/** Thrown inside the encoder for a value the binary form does not hold; the row is then stored as JSON. */
class NotCompact extends Error {}

function zigzag(value: number): number {
  const z = value >= 0 ? value * 2 : -value * 2 - 1;
  if (!Number.isSafeInteger(z)) throw new NotCompact('time too far from the row');
  return z;
}

function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

// A string's header: 0 null, 1 a UUID (16 bytes follow), 2 + n a UTF-8 text of n bytes.
export function writeId(w: Writer, value: unknown, nullable: boolean): void {
  if (value === null && nullable) return w.varint(0);
  if (typeof value !== 'string') throw new NotCompact('not a string');
  if (isCanonicalUuid(value)) {
    w.varint(1);
    w.bytes(Buffer.from(value.replaceAll('-', ''), 'hex'));
    return;
  }
  const bytes = Buffer.from(value, 'utf8');
  w.varint(2 + bytes.length);
  w.bytes(bytes);
}

export function readId(r: Reader): string | null {
  const header = r.varint();
  if (header === 0) return null;
  if (header === 1) {
    const hex = r.bytes(16).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  return r.bytes(header - 2).toString('utf8');
}

function writeTime(w: Writer, value: unknown, at: number): void {
  if (!Number.isSafeInteger(value)) throw new NotCompact('not an integer time');
  w.varint(zigzag((value as number) - at));
}

function writeCount(w: Writer, value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new NotCompact('not a count');
  w.varint(value as number);
}

function writeField(w: Writer, kind: FieldKind, value: unknown, at: number): void {
  switch (kind) {
    case 'id':
    case 'idOrNull':
      return writeId(w, value, kind === 'idOrNull');
    case 'time':
      return writeTime(w, value, at);
    case 'count':
      return writeCount(w, value);
    case 'ids':
      if (!Array.isArray(value)) throw new NotCompact('not a list');
      w.varint(value.length);
      for (const item of value) writeId(w, item, false);
      return;
    case 'sessions':
      if (!Array.isArray(value)) throw new NotCompact('not a list');
      w.varint(value.length);
      for (const session of value as unknown[]) {
        if (typeof session !== 'object' || session === null) throw new NotCompact('not a session');
        const s = session as Record<string, unknown>;
        writeId(w, s['sessionId'], false);
        writeTime(w, s['startedAt'], at);
        writeCount(w, s['durationMs']);
      }
      return;
    default: {
      const index = typeof value === 'string' ? kind.enum.indexOf(value) : -1;
      if (index < 0) throw new NotCompact('not one of the enum');
      return w.byte(index);
    }
  }
}

function readField(r: Reader, kind: FieldKind, at: number): unknown {
  switch (kind) {
    case 'id':
    case 'idOrNull':
      return readId(r);
    case 'time':
      return at + unzigzag(r.varint());
    case 'count':
      return r.varint();
    case 'ids':
      return Array.from({ length: r.varint() }, () => readId(r));
    case 'sessions':
      return Array.from({ length: r.varint() }, () => ({ sessionId: readId(r), startedAt: at + unzigzag(r.varint()), durationMs: r.varint() }));
    default: {
      const value = kind.enum[r.byte()];
      if (value === undefined) throw new Error('enum index out of range');
      return value;
    }
  }
}

/**
 * The binary form of a kind's JSON payload, or null when the kind has none or the payload would
 * not read back as the same text (then the caller stores the JSON itself).
 */
export function encodeCompactPayload(code: number, payload: string, at: number): Buffer | null {
  const fields = BY_CODE.get(code)?.fields;
  if (!fields) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const object = parsed as Record<string, unknown>;
  const w = new Writer();
  try {
    for (const [name, kind] of fields) writeField(w, kind, Object.hasOwn(object, name) ? object[name] : undefined, at);
  } catch (error) {
    if (error instanceof NotCompact) return null;
    throw error;
  }
  const body = w.done();
  // Exact or nothing: key order, extra keys, -0, number spellings all show up here.
  return decodeCompactPayload(code, body, at) === payload ? body : null;
}

/** The JSON text of a binary payload, fields in the kind's order. Throws on a damaged body. */
export function decodeCompactPayload(code: number, body: Buffer, at: number): string {
  const fields = BY_CODE.get(code)?.fields;
  if (!fields) throw new Error(`kind ${code} has no binary form`);
  const r = new Reader(body);
  const object: Record<string, unknown> = {};
  for (const [name, kind] of fields) object[name] = readField(r, kind, at);
  if (!r.finished) throw new Error('bytes left after the last field');
  return JSON.stringify(object);
}

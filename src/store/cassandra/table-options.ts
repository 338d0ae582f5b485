/**
 * Per-table storage options of the event tables (today: compression), as the config states them
 * and as CQL wants them. Two presets: real-time tables favour read latency (LZ4, small chunks: a
 * member load decompresses little beyond its own partition); archive tables favour density (Zstd
 * with 64 KiB chunks). The config's shape (`{compression: {algorithm, chunkKb, level}}` per table)
 * is the same wherever a table set lives, so a tier can carry its own.
 */

export type CompressionAlgorithm = 'LZ4' | 'Zstd' | 'Snappy' | 'Deflate' | 'none';

export interface TableOptions {
  compression: {
    algorithm: CompressionAlgorithm;
    /** Compression chunk, KiB: a read decompresses whole chunks. A power of two. */
    chunkKb: number;
    /** Zstd only (Cassandra's default 3 when null). */
    level?: number | null;
  };
}

export interface EventTablesOptions {
  events: TableOptions;
  snapshots: TableOptions;
}

/**
 * Read latency first: what the service's own tables use unless the config says otherwise. A
 * member's partition is a few KiB compressed, so a load decompresses one or two chunks; 16 KiB
 * rather than 4 KiB costs nothing measurable there and stores 5% less (docs/storage.md).
 */
export const REALTIME_TABLE_OPTIONS: EventTablesOptions = {
  events: { compression: { algorithm: 'LZ4', chunkKb: 16, level: null } },
  snapshots: { compression: { algorithm: 'LZ4', chunkKb: 16, level: null } },
};

/** Density first: for tables that keep every event and are read for audit and debugging. */
export const ARCHIVE_TABLE_OPTIONS: EventTablesOptions = {
  events: { compression: { algorithm: 'Zstd', chunkKb: 64, level: 3 } },
  snapshots: { compression: { algorithm: 'Zstd', chunkKb: 64, level: 3 } },
};

const CLASSES: Record<Exclude<CompressionAlgorithm, 'none'>, string> = {
  LZ4: 'LZ4Compressor',
  Zstd: 'ZstdCompressor',
  Snappy: 'SnappyCompressor',
  Deflate: 'DeflateCompressor',
};

/** The CQL map of `WITH compression = ...`. Every value is an enum or a checked integer: nothing else reaches the text. */
export function compressionCql(options: TableOptions): string {
  const { algorithm, chunkKb, level } = options.compression;
  if (algorithm === 'none') return "{'enabled': 'false'}";
  if (!Number.isInteger(chunkKb) || chunkKb < 1 || chunkKb > 1024 || (chunkKb & (chunkKb - 1)) !== 0)
    throw new Error(`compression chunkKb must be a power of two from 1 to 1024, got ${chunkKb}`);
  const parts = [`'class': '${CLASSES[algorithm]}'`, `'chunk_length_in_kb': '${chunkKb}'`];
  if (algorithm === 'Zstd' && level !== null && level !== undefined) {
    if (!Number.isInteger(level) || level < -131072 || level > 22) throw new Error(`Zstd compression level must be an integer up to 22, got ${level}`);
    parts.push(`'compression_level': '${level}'`);
  }
  return `{${parts.join(', ')}}`;
}

/**
 * Whether a table's compression, as `system_schema.tables.compression` reports it, is what the
 * options ask for (Cassandra adds defaults of its own, so only the keys we set are compared).
 */
export function compressionMatches(reported: Record<string, string> | null | undefined, options: TableOptions): boolean {
  const current = reported ?? {};
  const { algorithm, chunkKb, level } = options.compression;
  if (algorithm === 'none') return current['enabled'] === 'false' || current['class'] === undefined;
  const className = current['class'] ?? '';
  if (className !== CLASSES[algorithm] && !className.endsWith(`.${CLASSES[algorithm]}`)) return false;
  if (current['chunk_length_in_kb'] !== String(chunkKb)) return false;
  if (algorithm === 'Zstd' && level !== null && level !== undefined) return (current['compression_level'] ?? '3') === String(level);
  return true;
}

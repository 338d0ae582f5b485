/**
 * The config's TypeScript types, derived from its JSON schemas (src/config/schema.ts), so the
 * shape is declared once. A key with a `default` is present after validation (Ajv's
 * `useDefaults` fills it), and its type says so.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type { Rules } from '../domain/rules.ts';
import type { serviceSchema } from './schema.ts';

/** The `service` section, read once at start; every key has a default. */
export type ServiceConfig = FromSchema<typeof serviceSchema>;

/** The HTTP listeners' limits and where /docs and /metrics are served. */
export type HttpConfig = ServiceConfig['http'];

/** Cluster mode's settings; the section is null on a single node. */
export type ClusterConfig = NonNullable<ServiceConfig['cluster']>;

export interface Config {
  service: ServiceConfig;
  rules: Rules;
  /** Absolute path of the file this came from, or null for a config built in code (tests). */
  path: string | null;
}

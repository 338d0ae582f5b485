/**
 * Reads and validates the config file. A bad file is refused as a whole, with a message that
 * names the offending key, so a service never starts (or reloads) on half-understood settings.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';
import type { FromSchema } from 'json-schema-to-ts';
import { isNodeId, NODE_ID_GRAMMAR } from '../domain/ids.ts';
import { rulesSchema, type Rules } from '../domain/rules.ts';
import { replicationProblem } from './cassandra-replication.ts';
import { ConfigError, readConfigFile } from './config-file.ts';
import { configSchema } from './schema.ts';
import type { Config } from './types.ts';

export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/default.json', import.meta.url));

export { ConfigError, readConfigFile };

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true, allowUnionTypes: true });

const configValidation = ajv.compile(configSchema);
const rulesValidation = ajv.compile(rulesSchema);

// Typed by the schema Ajv checks (the types derive from it): a valid object needs no cast.
// Ajv fills defaults in place while validating, so the keys with defaults are then present.
function isValidConfig(data: unknown): data is FromSchema<typeof configSchema> {
  return configValidation(data);
}
function isValidRules(data: unknown): data is Rules {
  return rulesValidation(data);
}

function describe(error: ErrorObject | undefined, root: string): string {
  if (!error) return `${root} is invalid`;
  const path = root + error.instancePath.replaceAll('/', '.');
  if (error.keyword === 'additionalProperties') {
    return `${path}.${String(error.params['additionalProperty'])} is not a known key`;
  }
  if (error.keyword === 'required') return `${path}.${String(error.params['missingProperty'])} is required`;
  return `${path} ${error.message ?? 'is invalid'}`;
}

/** Checks what a schema cannot: cross-references between rules sections. */
function checkRuleReferences(rules: Rules): void {
  if (!Object.hasOwn(rules.plans, rules.defaults.plan)) {
    throw new ConfigError(`rules.defaults.plan names plan "${rules.defaults.plan}", which rules.plans does not define`);
  }
  for (const [titleId, title] of Object.entries(rules.titles)) {
    if (!Object.hasOwn(rules.studios, title.studio)) {
      throw new ConfigError(`rules.titles.${titleId}.studio names studio "${title.studio}", which rules.studios does not define`);
    }
  }
}

/** Checks what a schema cannot in each Cassandra tier's replication (merged as the store merges it). */
function checkReplication(cassandra: FromSchema<typeof configSchema>['service']['cassandra']): void {
  const shared = { at: 'service.cassandra', replication: cassandra.replication, localDataCenter: cassandra.localDataCenter };
  const tiers = (['hot', 'cold'] as const).map((tier) => ({
    at: `service.cassandra.${tier}`,
    replication: { ...cassandra.replication, ...cassandra[tier]?.replication },
    localDataCenter: cassandra[tier]?.localDataCenter ?? cassandra.localDataCenter,
  }));
  for (const { at, replication, localDataCenter } of [shared, ...tiers]) {
    const problem = replicationProblem(replication, localDataCenter, at);
    if (problem) throw new ConfigError(problem);
  }
}

/** Validates a parsed config object, filling defaults in place. */
export function parseConfig(raw: unknown, path: string | null): Config {
  if (!isValidConfig(raw)) throw new ConfigError(`config${path ? ` ${path}` : ''}: ${describe(configValidation.errors?.[0], 'config')}`);
  checkRuleReferences(raw.rules);
  checkReplication(raw.service.cassandra);
  const service = raw.service;
  if (path !== null && !isAbsolute(service.sqlite.path)) service.sqlite.path = resolve(dirname(path), service.sqlite.path);
  return { service, rules: raw.rules, path };
}

/** Validates a `rules` section alone (for hot reload). */
export function parseRules(raw: unknown): Rules {
  if (!isValidRules(raw)) throw new ConfigError(describe(rulesValidation.errors?.[0], 'rules'));
  checkRuleReferences(raw);
  return raw;
}

export interface ConfigSources {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

/** The config path from `--config <path>` / `--config=<path>`, then LICENSE_CONFIG, then the default. */
export function configPathFrom({ argv, env }: ConfigSources): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--config') {
      const next = argv[i + 1];
      if (!next) throw new ConfigError('--config needs a path');
      return resolve(next);
    }
    if (arg.startsWith('--config=')) return resolve(arg.slice('--config='.length));
  }
  return env['LICENSE_CONFIG'] ? resolve(env['LICENSE_CONFIG']) : DEFAULT_CONFIG_PATH;
}

/** Loads the config for a process: file, then PORT, HOST, ADMIN_TOKEN and CASSANDRA_CONTACT_POINTS from the environment. */
export function loadConfig(sources: ConfigSources): Config {
  const path = configPathFrom(sources);
  const config = parseConfig(readConfigFile(path), path);
  const { PORT, HOST } = sources.env;
  if (PORT !== undefined && PORT !== '') {
    const port = Number(PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be an integer from 0 to 65535, got "${PORT}"`);
    config.service.port = port;
  }
  if (HOST !== undefined && HOST !== '') config.service.host = HOST;
  const adminToken = sources.env['ADMIN_TOKEN'];
  if (adminToken !== undefined && adminToken !== '') {
    if (adminToken.length < 16) throw new ConfigError('ADMIN_TOKEN must be at least 16 characters');
    config.service.admin.token = adminToken;
  }
  const contactPoints = cassandraContactPointsFrom(sources.env);
  if (contactPoints) config.service.cassandra.contactPoints = contactPoints;
  applyClusterFlags(config, sources.argv);
  return config;
}

const NODE_URL = /^https?:\/\/[^/]+$/;

/**
 * Cluster flags: `--node-id <id>` turns cluster mode on (or names this node when the config
 * file does), `--join <url>` registers with a member at start, `--advertise <url>` is the URL
 * the other nodes reach this one at. Checked like the file: a bad value names the flag.
 */
export function applyClusterFlags(config: Config, argv: readonly string[]): void {
  const flag = (name: string): string | undefined => {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i] ?? '';
      if (arg === `--${name}`) {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw new ConfigError(`--${name} needs a value`);
        return next;
      }
      if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
    }
    return undefined;
  };
  const nodeId = flag('node-id');
  const join = flag('join');
  const advertise = flag('advertise');
  if (nodeId !== undefined && !isNodeId(nodeId)) throw new ConfigError(`--node-id must be ${NODE_ID_GRAMMAR}, got "${nodeId}"`);
  for (const [name, value] of [
    ['join', join],
    ['advertise', advertise],
  ] as const) {
    if (value !== undefined && !NODE_URL.test(value)) throw new ConfigError(`--${name} must be a URL like http://127.0.0.1:3001, got "${value}"`);
  }
  if (nodeId !== undefined && !config.service.cluster) {
    config.service.cluster = parseConfig({ service: { cluster: { nodeId } }, rules: config.rules }, null).service.cluster;
  }
  const cluster = config.service.cluster;
  if (!cluster) {
    if (join !== undefined || advertise !== undefined) throw new ConfigError('--join and --advertise need cluster mode (--node-id or service.cluster)');
    return;
  }
  if (nodeId !== undefined) cluster.nodeId = nodeId;
  if (join !== undefined) cluster.join = join;
  if (advertise !== undefined) cluster.advertise = advertise;
  requireClusterPrerequisites(config);
}

/** Cluster mode needs the shared store and the token the nodes authenticate each other with. */
export function requireClusterPrerequisites(config: Config): void {
  if (!config.service.cluster) return;
  if (config.service.store !== 'cassandra') throw new ConfigError('cluster mode needs service.store "cassandra" (the nodes share its membership and ownership fences)');
  if (!config.service.admin.token) throw new ConfigError('cluster mode needs an admin token (ADMIN_TOKEN or service.admin.token): the nodes use it to talk to each other');
}

/** CASSANDRA_CONTACT_POINTS: comma-separated host[:port] list pointing at an existing cluster. */
export function cassandraContactPointsFrom(env: Readonly<Record<string, string | undefined>>): string[] | undefined {
  const value = env['CASSANDRA_CONTACT_POINTS'];
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((point) => point.trim())
    .filter((point) => point.length > 0);
}

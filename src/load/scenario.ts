/**
 * Load scenarios: the workload as a JSON file (members, skew, operation mix, bounds), checked
 * with ajv before any request goes out, so a typo fails at once with the field named rather
 * than as a misleading result after a minute of load.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { ID_CHARACTERS, ID_PATTERN } from '../domain/ids.ts';

export const OPERATIONS = ['check', 'acquire', 'renew', 'release', 'playback', 'deactivate'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface Scenario {
  /** Shown in the progress and the report. */
  name: string;
  members: {
    count: number;
    /** Zipf exponent over members: 0 = uniform, 1 = classic skew, higher = hotter head. */
    zipf: number;
    devicesPerMember: number;
    /** Member ids are `<idPrefix>-<rank>`; change it to start from members with no history. */
    idPrefix: string;
  };
  titles: string[];
  /** Sent with acquires and checks when set (else the member keeps the rules' default plan). */
  plan?: string;
  /** Relative weights; zero or absent operations are never sent. */
  mix: Partial<Record<Operation, number>>;
  /** Requests in flight at once, across all targets. */
  concurrency: number;
  /** Keep-alive connections per target (default: enough for the concurrency). */
  connections?: number;
  /** The run stops at whichever bound comes first. */
  durationSeconds: number;
  maxRequests: number;
  /** Same seed, same sequence of members/operations/titles (absent: a random one, reported). */
  seed?: number;
  /** Per request, headers to end of body. */
  requestTimeoutMs: number;
  /** Playback sessions per playback request. */
  playbackEventsPerRequest: number;
}

export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

const idString = { type: 'string', pattern: ID_PATTERN } as const;

/** Exported for the README and tests; `useDefaults` fills the optional fields in place. */
export const scenarioSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['members', 'titles', 'mix', 'concurrency', 'durationSeconds', 'maxRequests'],
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', minLength: 1, maxLength: 100, default: 'unnamed' },
    description: { type: 'string' },
    members: {
      type: 'object',
      additionalProperties: false,
      required: ['count'],
      properties: {
        // The Zipf table costs 8 bytes a member: 5 million is 40 MB.
        count: { type: 'integer', minimum: 1, maximum: 5_000_000 },
        zipf: { type: 'number', minimum: 0, maximum: 10, default: 0 },
        devicesPerMember: { type: 'integer', minimum: 1, maximum: 100, default: 2 },
        // Short enough that prefix + rank stays a valid id (128 characters).
        idPrefix: { type: 'string', pattern: `^[${ID_CHARACTERS}]{1,64}$`, default: 'load-m' },
      },
    },
    titles: { type: 'array', minItems: 1, maxItems: 100_000, items: idString },
    plan: { type: 'string', minLength: 1, maxLength: 64 },
    mix: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: Object.fromEntries(OPERATIONS.map((op) => [op, { type: 'number', minimum: 0 }])),
    },
    concurrency: { type: 'integer', minimum: 1, maximum: 10_000 },
    connections: { type: 'integer', minimum: 1, maximum: 10_000 },
    durationSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 86_400 },
    maxRequests: { type: 'integer', minimum: 1 },
    seed: { type: 'integer', minimum: 0, maximum: 4_294_967_295 },
    requestTimeoutMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 10_000 },
    playbackEventsPerRequest: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
const validate = ajv.compile(scenarioSchema);

/** "members.count must be >= 1": the path as the file spells it, then what is wrong. */
function describe(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const at = (child: string): string => (path ? `${path}.${child}` : child);
  if (error.keyword === 'additionalProperties') return `${at(String(error.params['additionalProperty']))} is not a known field`;
  if (error.keyword === 'required') return `${at(String(error.params['missingProperty']))} is required`;
  return `${path || 'scenario'} ${error.message ?? 'is invalid'}`;
}

/** Validates a parsed scenario (filling defaults on a copy); throws ScenarioError naming every bad field. */
export function parseScenario(raw: unknown, source = 'scenario'): Scenario {
  const copy: unknown = structuredClone(raw);
  if (!validate(copy)) {
    const problems = (validate.errors ?? []).map(describe);
    throw new ScenarioError(`${source}: ${[...new Set(problems)].join('; ')}`);
  }
  const scenario = copy as unknown as Scenario;
  // What a schema cannot say: at least one operation must be able to run.
  if (!OPERATIONS.some((op) => (scenario.mix[op] ?? 0) > 0)) {
    throw new ScenarioError(`${source}: mix must give at least one operation (${OPERATIONS.join(', ')}) a weight above 0`);
  }
  return scenario;
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ScenarioError(`cannot read scenario ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(`scenario ${path} is not JSON: ${(error as Error).message}`);
  }
  return parseScenario(raw, `scenario ${path}`);
}

/** Command-line values that replace the file's (validated again, so a bad flag is named too). */
export interface ScenarioOverrides {
  durationSeconds?: number;
  maxRequests?: number;
  concurrency?: number;
  connections?: number;
  seed?: number;
}

export function applyOverrides(scenario: Scenario, overrides: ScenarioOverrides): Scenario {
  const merged: Record<string, unknown> = { ...structuredClone(scenario) };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  return parseScenario(merged, 'scenario (with overrides)');
}

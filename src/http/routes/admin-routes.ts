/**
 * The admin API (token-protected: registered only inside the admin scope of admin-auth.ts):
 * snapshot a member now, the rules in force, reload the rules from the config file now, the
 * event store as the driver sees it, and (with `"clock": "manual"` only) the test clock.
 */
import { basename } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RulesSource } from '../../config/rules-source.ts';
import { ManualClock, type Clock } from '../../service/clock.ts';
import type { SnapshotResult } from '../../service/license-service.ts';
import { publicMessage } from '../../errors/public-message.ts';
import { errorBody } from '../error-handler.ts';
import { errorAnswers, memberParams, SERVICE_BUSY_CODES } from '../schemas.ts';
import { adminClockRoutes } from './admin-clock-routes.ts';
import type { StoreDescription } from '../../store/cassandra/host-view.ts';

/** What the admin routes need from the service: the actor pool and the in-process service both provide it. */
export interface AdminPort {
  snapshotNow(memberId: string): Promise<SnapshotResult>;
}

export interface AdminDependencies {
  service: AdminPort;
  rules: RulesSource;
  /** The config file the rules are reloaded from; null when the config was built in code. */
  configPath: string | null;
  clock: Clock;
  /** The event store's hosts and consistency levels (GET /v1/admin/store). */
  describeStore: () => StoreDescription;
  /** Logs rule changes made through the admin API. */
  onRulesReload?: (change: { outcome: string; version?: string; message?: string }) => void;
}

const unauthorized = errorAnswers('UNAUTHORIZED');

const hostList = {
  type: 'array',
  items: {
    type: 'object',
    required: ['address', 'datacenter', 'rack', 'up', 'cassandraVersion'],
    properties: {
      address: { type: 'string', description: '`ip:port`' },
      datacenter: { type: 'string' },
      rack: { type: 'string' },
      up: { type: 'boolean', description: 'whether the driver currently considers the host up' },
      cassandraVersion: { type: 'string' },
    },
  },
} as const;

const storeResponse = {
  type: 'object',
  description: 'The event store: for Cassandra, the hosts the driver knows (up or down) and the consistency levels in force; for SQLite, `kind` and no hosts.',
  required: ['kind', 'hosts'],
  properties: {
    kind: { type: 'string', description: '`cassandra` or `sqlite`' },
    keyspace: { type: 'string' },
    localDataCenter: { type: 'string' },
    consistency: {
      type: 'object',
      required: ['read', 'write', 'serial'],
      properties: { read: { type: 'string' }, write: { type: 'string' }, serial: { type: 'string' } },
    },
    hosts: hostList,
    tiers: {
      type: 'object',
      description: "The two-tier store only (docs/storage.md#two-tiers): `hosts` above are the hot tier's; the cold tier, and the background work since start.",
      required: ['hot', 'cold', 'background'],
      properties: {
        hot: { type: 'object', required: ['keyspace'], properties: { keyspace: { type: 'string' } } },
        cold: {
          type: 'object',
          required: ['keyspace', 'connected', 'hosts'],
          properties: {
            keyspace: { type: 'string' },
            connected: { type: 'boolean', description: 'false: the cold tier could not be reached yet (the store retries)' },
            hosts: hostList,
          },
        },
        background: {
          type: 'object',
          description: 'copiesFailed, copiesSkipped, archiveRuns, archiveFailures, sweeps',
          additionalProperties: { type: 'number' },
        },
      },
    },
  },
} as const;

const rulesChangeResponse = {
  type: 'object',
  required: ['outcome', 'rulesVersion'],
  properties: {
    outcome: { type: 'string', enum: ['applied', 'unchanged'] },
    rulesVersion: { type: 'string' },
    previousVersion: { type: 'string' },
  },
} as const;

const refusedResponse = {
  type: 'object',
  description: 'The config file cannot be applied; the last good rules stay in force and `reason` says why.',
  required: ['code', 'message', 'outcome', 'reason', 'rulesVersion'],
  properties: {
    code: { type: 'string', enum: ['RULES_RELOAD_REFUSED'] },
    message: { type: 'string' },
    outcome: { type: 'string', enum: ['refused'] },
    reason: { type: 'string' },
    rulesVersion: { type: 'string' },
  },
} as const;

/**
 * Why a reload was refused, fit for an answer: the config file by its name, never its path, and
 * no excerpt of a file that does not parse (it may hold the admin token). The log keeps it all.
 */
function reloadReason(message: string, configPath: string | null): string {
  // V8's JSON errors quote the text around the fault: `Unexpected token 'x', ..."<text>"... is not valid JSON`.
  let reason = message.replace(/, \S*".*" ?(?:\.\.\. )?is not valid JSON/s, '');
  if (configPath !== null) reason = reason.split(configPath).join(basename(configPath));
  return publicMessage('RULES_RELOAD_REFUSED', reason).message;
}

export function adminRoutes(app: FastifyInstance, deps: AdminDependencies): void {
  app.post<{ Params: { memberId: string } }>(
    '/v1/admin/members/:memberId/snapshot',
    {
      schema: {
        summary: 'Snapshot a member now (opens the next generation)',
        tags: ['admin'],
        params: memberParams,
        response: {
          200: {
            type: 'object',
            required: ['memberId', 'taken', 'generation', 'position'],
            properties: {
              memberId: { type: 'string' },
              taken: { type: 'boolean' },
              generation: { type: 'integer' },
              position: { type: 'integer' },
            },
          },
          ...errorAnswers('VALIDATION_FAILED', 'UNAUTHORIZED', ...SERVICE_BUSY_CODES, 'EVENT_DECODE_FAILED'),
        },
      },
    },
    async (request) => deps.service.snapshotNow(request.params.memberId),
  );

  app.get(
    '/v1/admin/rules',
    {
      schema: {
        summary: 'The rules in force and their version',
        tags: ['admin'],
        response: {
          200: {
            type: 'object',
            required: ['rulesVersion', 'rules'],
            properties: { rulesVersion: { type: 'string' }, rules: { type: 'object', additionalProperties: true } },
          },
          ...unauthorized,
        },
      },
    },
    async () => {
      const rules = deps.rules.current();
      return { rulesVersion: rules.version, rules };
    },
  );

  app.get(
    '/v1/admin/store',
    {
      schema: {
        summary: 'The event store: Cassandra hosts up and down, consistency levels in force',
        description: 'Per-host request and error counts are on /metrics (`cassandra_host_requests_total`, `cassandra_host_errors_total`).',
        tags: ['admin'],
        response: { 200: storeResponse, ...unauthorized },
      },
    },
    async () => deps.describeStore(),
  );

  app.post(
    '/v1/admin/rules/reload',
    {
      schema: {
        summary: 'Re-read the rules from the config file now',
        description:
          '200 `applied` (new rules in force) or `unchanged`; 409 RULES_RELOAD_REFUSED when the file cannot be applied (the last good rules stay in force; `reason` says why).',
        tags: ['admin'],
        response: { 200: rulesChangeResponse, ...unauthorized, 409: refusedResponse },
      },
    },
    async (_request, reply) => {
      const previousVersion = deps.rules.current().version;
      const change =
        deps.configPath === null
          ? ({ outcome: 'refused', message: 'the service was started without a config file; there is nothing to reload' } as const)
          : deps.rules.reloadFrom(deps.configPath);
      deps.onRulesReload?.(change);
      switch (change.outcome) {
        case 'applied':
          return { outcome: 'applied', rulesVersion: change.version, previousVersion };
        case 'unchanged':
          return { outcome: 'unchanged', rulesVersion: previousVersion };
        case 'refused': {
          const reason = reloadReason(change.message, deps.configPath);
          return reply.status(409).send({
            ...errorBody('RULES_RELOAD_REFUSED', `rules reload refused: ${reason}`),
            outcome: 'refused',
            reason,
            rulesVersion: deps.rules.current().version,
          });
        }
      }
    },
  );

  if (deps.clock instanceof ManualClock) adminClockRoutes(app, deps.clock);
}

/** Shared test fixtures: a small rule set with every limit set low enough to hit, and a server on an in-memory store. */
import type { Config, ServiceConfig } from '../../src/config/types.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Rules } from '../../src/domain/rules.ts';
import { createServer, type Server } from '../../src/server.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import type { EventStore } from '../../src/store/event-store.ts';

/** 2026-01-01T00:00:00Z: tests run on a manual clock starting here. */
export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 86_400_000;

export function testRules(overrides: Partial<Rules> = {}): Rules {
  return {
    version: 'test-1',
    defaults: {
      plan: 'standard',
      licenseWindowDays: 30,
      yearlyTitleLimit: 3,
      maxActiveDownloadsPerStudio: null,
      maxRenewals: null,
      renewalCountsTowardYearlyLimit: false,
    },
    plans: { basic: { maxDownloadDevices: 1 }, standard: { maxDownloadDevices: 2 }, premium: { maxDownloadDevices: 4 } },
    maxActiveDownloadsPerDevice: 5,
    maxDeviceDeactivationsPerYear: 2,
    studios: {
      // A strict studio: 2 per year, 2 at once, 1 renewal, renewals count toward the yearly limit.
      strict: { yearlyTitleLimit: 2, maxActiveDownloadsPerStudio: 2, maxRenewals: 1, licenseWindowDays: 7, renewalCountsTowardYearlyLimit: true },
      // A lenient studio: no yearly limit.
      open: { yearlyTitleLimit: null },
    },
    titles: {
      'strict-a': { studio: 'strict' },
      'strict-b': { studio: 'strict' },
      'strict-c': { studio: 'strict' },
      'open-a': { studio: 'open' },
    },
    ...overrides,
  };
}

/** The admin token test servers are configured with (`adminToken` in startTestServer's options). */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/** A full config around the given rules, validated the same way as a config file. */
export function testConfig(rules: Rules = testRules(), service: Partial<ServiceConfig> = {}): Config {
  // In-process by default (workers: 0); the actor tests ask for worker threads explicitly.
  // Admin routes on (with TEST_ADMIN_TOKEN) and no rate limit unless a test asks otherwise.
  const defaults = { clock: 'manual', actors: { workers: 0 }, admin: { token: TEST_ADMIN_TOKEN }, rateLimit: null };
  const config = parseConfig(structuredClone({ service: { ...defaults, ...service }, rules }), null);
  return config;
}

export interface TestServer extends Server {
  store: EventStore;
}

/** A server on an in-memory SQLite store and a manual clock at T0; close it in teardown. */
/** `adminToken`: the admin token (default TEST_ADMIN_TOKEN; null: admin and debug routes off). */
export async function startTestServer(options: { rules?: Rules; service?: Partial<ServiceConfig>; store?: EventStore; adminToken?: string | null } = {}): Promise<TestServer> {
  const store = options.store ?? new SqliteEventStore(':memory:');
  const config = testConfig(options.rules ?? testRules(), options.service ?? {});
  if (options.adminToken !== undefined) config.service.admin.token = options.adminToken;
  return createServer(config, { store, manualClockStart: T0, watchRules: false });
}

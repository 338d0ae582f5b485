/** Settings for tests against the real Cassandra that `npm test` starts (or CASSANDRA_CONTACT_POINTS names). */
import { parseConfig, cassandraContactPointsFrom } from '../../src/config/load.ts';
import type { ServiceConfig } from '../../src/config/types.ts';
import { testRules } from './fixtures.ts';

export const TEST_KEYSPACE = 'license_accounting_test_v2';

export function cassandraTestSettings(overrides: Partial<ServiceConfig['cassandra']> = {}): ServiceConfig['cassandra'] {
  const config = parseConfig({ service: { store: 'cassandra', cassandra: { keyspace: TEST_KEYSPACE } }, rules: testRules() }, null);
  return {
    ...config.service.cassandra,
    contactPoints: cassandraContactPointsFrom(process.env) ?? config.service.cassandra.contactPoints,
    ...overrides,
  };
}

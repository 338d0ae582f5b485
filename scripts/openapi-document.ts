/**
 * The OpenAPI document the routes generate, built the way `npm run openapi` writes openapi.json:
 * every route a production server can serve on one port (edge, admin and debug with a token set,
 * cluster admin in cluster mode, the system clock, so no test clock route), on in-memory stores
 * and no worker threads. The node is never started: building the routes needs no cluster.
 * It lives outside src/ because it starts a whole server, and only the entry point does that.
 */
import { parseConfig, readConfigFile, DEFAULT_CONFIG_PATH } from '../src/config/load.ts';
import { createServer } from '../src/server.ts';
import { SqliteEventStore } from '../src/store/sqlite/sqlite-event-store.ts';
import { InMemoryMembershipStore } from '../src/cluster/membership-store.ts';

export async function generateOpenApiDocument(): Promise<unknown> {
  const file = readConfigFile(DEFAULT_CONFIG_PATH) as { rules: unknown };
  const config = parseConfig(
    {
      service: {
        clock: 'system',
        actors: { workers: 0 },
        admin: { token: 'openapi-generation-token-not-a-secret', port: null },
        store: 'cassandra',
        cluster: { nodeId: 'openapi' },
      },
      rules: file.rules,
    },
    null,
  );
  const server = await createServer(config, { store: new SqliteEventStore(':memory:'), membership: new InMemoryMembershipStore(), watchRules: false });
  try {
    await server.app.ready();
    return server.app.swagger();
  } finally {
    await server.close();
  }
}

/** The text written to openapi.json: stable key order as generated, two-space indent, final newline. */
export function openApiText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

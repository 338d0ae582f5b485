/**
 * The OpenAPI document the routes generate, built the way `npm run openapi` writes openapi.json:
 * every route a production server can serve on one port (edge, admin and debug with a token set,
 * the system clock, so no test clock route), on an in-memory store and no worker threads.
 */
import { parseConfig, readConfigFile, DEFAULT_CONFIG_PATH } from '../config/load.ts';
import { createServer } from '../server.ts';
import { SqliteEventStore } from '../store/sqlite/sqlite-event-store.ts';

export async function generateOpenApiDocument(): Promise<unknown> {
  const file = readConfigFile(DEFAULT_CONFIG_PATH) as { rules: unknown };
  const config = parseConfig(
    {
      service: { clock: 'system', actors: { workers: 0 }, admin: { token: 'openapi-generation-token-not-a-secret', port: null } },
      rules: file.rules,
    },
    null,
  );
  const server = await createServer(config, { store: new SqliteEventStore(':memory:'), watchRules: false });
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

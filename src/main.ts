/**
 * Process entry point: load the config (--config, LICENSE_CONFIG, or config/default.json;
 * PORT and HOST override), start the server, and shut down gracefully on SIGTERM/SIGINT.
 */
import { ConfigError, loadConfig } from './config/load.ts';
import { createServer } from './server.ts';

async function main(): Promise<void> {
  let config;
  let server;
  try {
    config = loadConfig({ argv: process.argv.slice(2), env: process.env });
    // createServer checks what the schema cannot (service.http's timeouts against each other).
    server = await createServer(config, { logger: { level: process.env['LOG_LEVEL'] ?? 'info' } });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`license-accounting: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const addresses = await server.listen(); // the edge port, and the admin port when configured
  server.app.log.info({ config: config.path, store: server.store.kind, rulesVersion: server.rules.current().version, ...addresses }, 'license accounting service ready');

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) return;
    closing = true;
    server.app.log.info({ signal }, 'shutting down: draining requests, then closing the store');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`license-accounting: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

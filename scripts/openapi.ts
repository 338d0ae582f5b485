/**
 * `npm run openapi`: writes openapi.json at the repo root from the route schemas. Re-run it after
 * adding or changing a route; test/http/openapi.test.ts fails while the checked-in file is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateOpenApiDocument, openApiText } from './openapi-document.ts';

const target = fileURLToPath(new URL('../openapi.json', import.meta.url));
writeFileSync(target, openApiText(await generateOpenApiDocument()));
process.stdout.write(`wrote ${target}\n`);

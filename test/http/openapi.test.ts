/** openapi.json is what the routes generate: a route change without `npm run openapi` fails here. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { generateOpenApiDocument, openApiText } from '../../scripts/openapi-document.ts';
import { REPO_ROOT } from '../support/process.ts';

t.test('the checked-in openapi.json matches the routes (run `npm run openapi` after changing a route)', async (t) => {
  const generated = openApiText(await generateOpenApiDocument());
  let checkedIn: string;
  try {
    checkedIn = readFileSync(`${REPO_ROOT}openapi.json`, 'utf8');
  } catch {
    t.fail('openapi.json is missing: run `npm run openapi`');
    return;
  }
  t.same(JSON.parse(checkedIn), JSON.parse(generated), 'openapi.json is stale: run `npm run openapi` and commit the result');
  t.equal(checkedIn, generated, 'openapi.json is formatted as `npm run openapi` writes it');
});

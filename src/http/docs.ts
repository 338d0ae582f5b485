/**
 * OpenAPI from the route schemas (@fastify/swagger), served at /docs (swagger-ui) and
 * /docs/json. `npm run openapi` writes the same document to openapi.json, and
 * test/http/openapi.test.ts fails when the checked-in file differs from what the routes generate.
 *
 * @fastify/swagger collects routes with an onRoute hook, which fastify runs when a route is
 * declared. buildApp declares the edge routes synchronously, before any registered plugin has
 * loaded, so the swagger setup (synchronous in its dynamic mode) is applied directly instead of
 * through `register`: call installDocs before declaring any route.
 *
 * The collector is always installed (`app.swagger()` is what `npm run openapi` writes); where the
 * page and /docs/json are served is `service.http.docs` (see app.ts): `docsPage` puts them in a
 * scope, which may be the admin token's.
 */
import type { FastifyInstance } from 'fastify';
import { fastifySwagger } from '@fastify/swagger';
import { fastifySwaggerUi } from '@fastify/swagger-ui';

/** Routes that require the admin bearer token (see admin-auth.ts). */
export function isProtectedUrl(url: string): boolean {
  return url.startsWith('/v1/admin/') || url.startsWith('/v1/debug/');
}

interface OpenApiDocument {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { required?: unknown; minProperties?: unknown } }> } }>>;
}

/**
 * @fastify/swagger marks every request body required, but a POST without a body is taken as `{}`
 * (app.ts): a body that `{}` satisfies (no required field, no minimum) may be left out.
 */
function optionalEmptyBodies(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      const schema = operation.requestBody?.content?.['application/json']?.schema;
      if (operation.requestBody && schema && schema.required === undefined && schema.minProperties === undefined) operation.requestBody.required = false;
    }
  }
  return document;
}

/** `protectedUrl`: routes the document marks as needing the admin token (default: admin and debug). */
export function installDocs(app: FastifyInstance, protectedUrl: (url: string) => boolean = isProtectedUrl): void {
  // The plugin's option types do not describe these transforms (a document narrowed to what
  // optionalEmptyBodies reads, a schema given `security`); it reads them at run time, as an object.
  const options: object = {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'License accounting service',
        version: 'v1',
        description: 'Edge API (/v1/members), health, and the token-protected admin and debug APIs (/v1/admin, /v1/debug).',
      },
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } } },
    },
    transformObject: ({ openapiObject }: { openapiObject: OpenApiDocument }) => optionalEmptyBodies(openapiObject),
    transform: ({ schema, url }: { schema: Record<string, unknown> | undefined; url: string }) => {
      if (!schema || !protectedUrl(url)) return { schema, url };
      return { schema: { ...schema, security: [{ adminToken: [] }] }, url };
    },
  };
  fastifySwagger(app, options, (error) => {
    if (error) throw error;
  });
}

/** The swagger-ui page at /docs and the document at /docs/json, in `scope` (and under its hooks). */
export async function docsPage(scope: FastifyInstance): Promise<void> {
  const ui = fastifySwaggerUi as unknown as (instance: FastifyInstance, options: object) => Promise<void>;
  await ui(scope, { routePrefix: '/docs' });
}

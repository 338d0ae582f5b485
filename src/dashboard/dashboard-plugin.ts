/**
 * The operator's dashboard (issue 16): static pages under /dashboard/, served where the admin
 * routes are (the admin port when there is one, else the edge port). The files are not secret:
 * every piece of data the page shows comes from the admin, debug and cluster APIs, which the page
 * calls with the admin token the operator typed (kept in the browser's sessionStorage). So the
 * page adds no power the API does not have. Without an admin token there are no admin routes:
 * the dashboard then answers a clear refusal that says how to turn them on, never a 500.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '../http/error-handler.ts';

export const DASHBOARD_PREFIX = '/dashboard/';
/** uPlot's files, straight from node_modules (no build step, no CDN). */
export const UPLOT_PREFIX = '/dashboard/vendor/uplot/';
const UPLOT_FILES = new Set(['/uPlot.esm.js', '/uPlot.iife.min.js', '/uPlot.min.css']);

const PUBLIC_ROOT = fileURLToPath(new URL('./public/', import.meta.url));
const UPLOT_ROOT = dirname(createRequire(import.meta.url).resolve('uplot'));

/**
 * The page runs only its own scripts (no inline script, nothing from elsewhere) and talks only to
 * this origin; uPlot sets element styles from script, which 'unsafe-inline' styles allow.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(reply: FastifyReply): void {
  void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('x-frame-options', 'DENY');
  // A new version of the page is picked up on the next load.
  void reply.header('cache-control', 'no-cache');
}

export const DASHBOARD_OFF_MESSAGE =
  'the dashboard is off: this service has no admin token, so its admin routes do not exist. Start it with ADMIN_TOKEN set (at least 16 characters), e.g. ADMIN_TOKEN=$(openssl rand -hex 24) npm start, then open /dashboard/ again';

/** `token`: the admin token in force; null serves only the refusal. */
export async function dashboardPlugin(app: FastifyInstance, options: { token: string | null }): Promise<void> {
  if (options.token === null) {
    app.get('/dashboard', { schema: { hide: true } }, refuse);
    app.get('/dashboard/*', { schema: { hide: true } }, refuse);
    return;
  }
  // The page's links are relative to /dashboard/: the address without the slash is sent there.
  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => reply.redirect(DASHBOARD_PREFIX, 302));
  await app.register(fastifyStatic, { root: PUBLIC_ROOT, prefix: DASHBOARD_PREFIX, setHeaders: securityHeaders });
  await app.register(fastifyStatic, {
    root: UPLOT_ROOT,
    prefix: UPLOT_PREFIX,
    decorateReply: false,
    index: false,
    // Only uPlot's browser builds, not the whole package folder.
    allowedPath: (path) => UPLOT_FILES.has(path),
    setHeaders: securityHeaders,
  });
}

/** The refusal: a short page for a browser, the catalog's JSON otherwise. */
async function refuse(request: FastifyRequest, reply: FastifyReply) {
  const body = errorBody('ROUTE_NOT_FOUND', DASHBOARD_OFF_MESSAGE);
  reply.status(404);
  if (!(request.headers.accept ?? '').includes('text/html')) return reply.send(body);
  return reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'")
    .send(
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dashboard off</title></head><body>' +
        '<h1>The dashboard is off</h1>' +
        '<p>This service has no admin token, so its admin routes (which the dashboard reads) do not exist.</p>' +
        '<p>Start it with an admin token of at least 16 characters, for example:</p>' +
        '<pre>ADMIN_TOKEN=$(openssl rand -hex 24) npm start</pre>' +
        '<p>then open <code>/dashboard/</code> again and sign in with that token.</p>' +
        '</body></html>',
    );
}

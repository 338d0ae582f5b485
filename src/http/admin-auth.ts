/**
 * Bearer-token protection for the admin and debug routes. Routes registered through
 * `registerProtected` live in one encapsulated fastify scope whose onRequest hook checks
 * `Authorization: Bearer <token>` before anything else runs (no body is parsed for a caller
 * without the token). With no token configured the scope is never registered, so its routes do
 * not exist (404 ROUTE_NOT_FOUND): they are disabled, never open.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './error-handler.ts';

/** The one answer for a missing, malformed or wrong token: it says nothing about which. */
const UNAUTHORIZED_BODY = errorBody('UNAUTHORIZED', 'authentication required');

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * A checker for the presented `Authorization` header. The comparison is over SHA-256 digests
 * (always 32 bytes, so timingSafeEqual never short-circuits on length) and takes the same time
 * whatever prefix of the token is right.
 */
export function bearerChecker(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization ?? '');
    // Hash something even without a token, so a missing header costs the same as a wrong one.
    const presented = digest(match?.[1] ?? '');
    return timingSafeEqual(presented, expected) && match !== null;
  };
}

/**
 * The one Authorization header, or undefined when there is none or several. Node keeps the first
 * of several; a proxy in front may have checked another, so two are never taken as one.
 */
export function singleAuthorization(rawHeaders: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() !== 'authorization') continue;
    if (found !== undefined) return undefined;
    found = rawHeaders[i + 1] ?? '';
  }
  return found;
}

/**
 * Registers `register`'s routes in a scope that requires the bearer token. With `token` null
 * nothing is registered. Debug and admin routes both go through here.
 */
export function registerProtected(app: FastifyInstance, token: string | null, register: (scope: FastifyInstance) => void | Promise<void>): void {
  if (token === null) return;
  const authorized = bearerChecker(token);
  void app.register(async (scope) => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (authorized(singleAuthorization(request.raw.rawHeaders))) return;
      return reply.status(401).header('www-authenticate', 'Bearer').send(UNAUTHORIZED_BODY);
    });
    await register(scope);
  });
}

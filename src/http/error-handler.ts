/**
 * Turns every failure into one of the catalog's answers: `{code, message}` (plus `field` for
 * input errors). Fastify's own errors (validation, body parsing, size) are translated so that a
 * client never sees a 500 for bad input, and the message names the offending field.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CATALOG, isErrorCode, type ErrorCode } from '../errors/catalog.ts';
import { publicMessage } from '../errors/public-message.ts';

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function fieldOf(context: string, issue: ValidationIssue): string {
  const path = issue.instancePath.split('/').filter(Boolean).join('.');
  let field = path ? `${context}.${path}` : context;
  if (issue.keyword === 'required') field += `.${String(issue.params['missingProperty'])}`;
  if (issue.keyword === 'additionalProperties') field += `.${String(issue.params['additionalProperty'])}`;
  return field;
}

function describeIssue(field: string, issue: ValidationIssue): string {
  switch (issue.keyword) {
    case 'required':
      return `${field} is required`;
    case 'additionalProperties':
      return `${field} is not an accepted field`;
    case 'pattern':
      return `${field} must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'`;
    default:
      return `${field} ${issue.message ?? 'is invalid'}`;
  }
}

export function errorBody(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
  return { code, message, ...extra };
}

/**
 * Fastify's `frameworkErrors` option: errors the router raises before any route (and so before
 * the error handler) runs. Without it fastify answers them with its own body, outside the catalog
 * (and a path parameter over the router's length limit with a 414).
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      void reply.status(400).send(errorBody('VALIDATION_FAILED', 'params: the URL path is not valid (malformed percent-encoding)', { field: 'params' }));
      return;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      void reply.status(400).send(errorBody('VALIDATION_FAILED', 'params: a path parameter is longer than 128 characters', { field: 'params' }));
      return;
    default:
      // Only asynchronous route constraints raise other framework errors; this app has none.
      request.log.error({ err: error }, 'unexpected router failure');
      void reply.status(500).send(errorBody('INTERNAL', 'an unexpected error occurred; the service log has the details'));
  }
}

/** Methods a path may have; a 404 for one of them while another exists is a 405. */
const ROUTABLE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

function allowedMethods(app: FastifyInstance, url: string): string[] {
  const path = url.split('?')[0] ?? '';
  return ROUTABLE_METHODS.filter((method) => {
    try {
      return app.findRoute({ method, url: path }) !== null;
    } catch {
      return false; // a path the router cannot even read has no methods
    }
  });
}

/**
 * `secrets`: strings no error answer may contain (the admin token). Every message goes through
 * publicMessage on its way out: see src/errors/public-message.ts.
 */
export function installErrorHandling(app: FastifyInstance, secrets: readonly string[] = []): void {
  /** Sends `{code, message, field?}`, the message cleared of anything that must not leave the service. */
  const answer = (request: FastifyRequest, reply: FastifyReply, code: ErrorCode, message: string, extra: Record<string, unknown> = {}, error?: unknown) => {
    const shown = publicMessage(code, message, secrets);
    const status = ERROR_CATALOG[code].status;
    // 5xx other than 503 are logged in full by the caller already.
    if (shown.withheld && (status < 500 || status === 503)) request.log.warn({ err: error, code, message }, 'error detail withheld from the client');
    return reply.status(ERROR_CATALOG[code].status).send(errorBody(code, shown.message, extra));
  };

  app.setErrorHandler((error: FastifyError & { validation?: ValidationIssue[]; validationContext?: string }, request, reply) => {
    // fastify refuses a QUERY without Content-Type before the not-found handler runs: no route
    // has QUERY, so it is a 405 (or 404) like any other method a path does not have.
    if (error.code === 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE' && request.is404) return notFound(request, reply);
    if (error instanceof AppError || isErrorCode((error as { code?: unknown }).code)) {
      const code = (error as { code: ErrorCode }).code;
      const status = ERROR_CATALOG[code].status;
      const details = (error as { details?: Record<string, unknown> }).details;
      // A member whose history cannot be read stays so until an operator acts: no quick retry
      // (an edge client falls back at once on a Retry-After longer than its budget), and a log line.
      if (code === 'EVENT_DECODE_FAILED') {
        reply.header('retry-after', '300');
        request.log.error({ err: error }, 'member history cannot be read; its commands are refused until the row is voided (license-accounting repair)');
      } else if (status === 503)
        reply.header('retry-after', '1'); // store trouble and overload pass: retry soon
      else if (status >= 500) request.log.error({ err: error }, 'request failed');
      const field = details?.['field'];
      return answer(request, reply, code, error.message, typeof field === 'string' ? { field } : {}, error);
    }
    const first = error.validation?.[0];
    if (first) {
      const field = fieldOf(error.validationContext ?? 'body', first);
      return reply.status(400).send(errorBody('VALIDATION_FAILED', describeIssue(field, first), { field }));
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return answer(request, reply, 'BODY_TOO_LARGE', error.message);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.status(415).send(errorBody('UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json'));
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        // Also a body with a "__proto__" or "constructor.prototype" key: the parser refuses those.
        return reply.status(400).send(errorBody('INVALID_JSON', 'the body is not valid JSON, or has a "__proto__" or "constructor": {"prototype"} key, which are refused'));
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply.status(400).send(errorBody('INVALID_JSON', 'the body is empty but Content-Type is application/json; send {} or no Content-Type'));
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return reply.status(400).send(errorBody('INVALID_JSON', 'the body does not match its Content-Length'));
    }
    const status = error.statusCode ?? 500;
    if (status === 400 && (error.name === 'SyntaxError' || error instanceof SyntaxError)) {
      return answer(request, reply, 'INVALID_JSON', `the body is not valid JSON: ${error.message}`, {}, error);
    }
    if (status >= 400 && status < 500) {
      const code: ErrorCode = status === 404 ? 'ROUTE_NOT_FOUND' : status === 413 ? 'BODY_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'VALIDATION_FAILED';
      return answer(request, reply, code, error.message, {}, error);
    }
    request.log.error({ err: error }, 'unexpected failure');
    return reply.status(500).send(errorBody('INTERNAL', 'an unexpected error occurred; the service log has the details'));
  });

  const notFound = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '';
    // The path exists with other methods: 405 and what it allows. A route that exists for this
    // very method and still calls notFound (a missing static file) is a plain 404.
    const allowed = allowedMethods(app, request.url);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      void reply.header('allow', allowed.join(', '));
      return answer(request, reply, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; it allows ${allowed.join(', ')}`);
    }
    return answer(request, reply, 'ROUTE_NOT_FOUND', `no route ${request.method} ${path}`);
  };
  app.setNotFoundHandler(notFound);
}

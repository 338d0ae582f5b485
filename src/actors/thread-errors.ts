/**
 * Errors crossing the worker-thread boundary. Structured clone keeps only an Error's message,
 * name and stack, and comlink's default throw handler does the same, so a STORE_UNAVAILABLE
 * thrown in a worker would arrive as a bare Error (a 500). These keep `code`, `status`,
 * `details` and `outcome`, so callers match on code on both sides.
 */
import * as Comlink from 'comlink';
import { AppError, isErrorCode } from '../errors/catalog.ts';

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  details?: Record<string, unknown>;
  outcome?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, details, outcome } = error as { code?: unknown; details?: unknown; outcome?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
    ...(typeof outcome === 'string' ? { outcome } : {}),
  };
}

export function deserializeError(serialized: SerializedError): Error {
  if (isErrorCode(serialized.code)) {
    const error = new AppError(serialized.code, serialized.message, serialized.details);
    if (serialized.outcome) Object.assign(error, { outcome: serialized.outcome });
    return error;
  }
  const error = new Error(serialized.message);
  error.name = serialized.name;
  if (serialized.code) Object.assign(error, { code: serialized.code });
  return error;
}

let installed = false;

/** Replaces comlink's throw handler, in the thread that calls it; both sides must call it. */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const original = Comlink.transferHandlers.get('throw');
  if (!original) throw new Error('comlink has no throw handler to replace');
  Comlink.transferHandlers.set('throw', {
    canHandle: (value: unknown): value is unknown => original.canHandle(value), // a method: called on its handler
    serialize: (value: unknown) => {
      const thrown = (value as { value: unknown }).value;
      return [{ error: serializeError(thrown) }, []];
    },
    deserialize: (serialized: unknown) => {
      throw deserializeError((serialized as { error: SerializedError }).error);
    },
  });
}

/** The structured log the parts of a node write to: pino's shape (fastify's logger), fields first. */
export interface Logger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

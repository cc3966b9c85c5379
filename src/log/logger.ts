// The logger the registry's modules accept: only the calls they make, so the domain depends on this interface and
// never on pino (src/log/process-logger.ts makes the process's logger; tests and embedders may pass their own).

/** Structured fields of a line; an Error goes under `err`. Never a key, token, PEM body or API key. */
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  error(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  debug(fields: LogFields, message: string): void;
  /** Whether lines of `level` are written: a caller skips building a line nobody reads (the access log, per call). */
  isLevelEnabled(level: 'error' | 'warn' | 'info' | 'debug'): boolean;
  /** A logger adding `bindings` to every line, e.g. { component: 'mtls' }. */
  child(bindings: LogFields): Logger;
}

/** Writes nothing: the default of components built without a logger (tests, embedding). */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  isLevelEnabled: () => false,
  child: () => silentLogger,
};

// The process's logger: pino, one JSON object per line on stderr (stdout stays the CLI's), or pino-pretty's
// coloured lines for a person at a terminal. A machine reads the JSON; a person pipes it through `npx pino-pretty`.
import type { Writable } from 'node:stream';
import { pino } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { Config } from '../config/schema.ts';
import type { Logger } from './logger.ts';

/**
 * Secrets a line could carry if a caller logged a request or an object carelessly: censored whatever the caller
 * does. The registry never logs them on purpose (see README "Logging").
 */
const REDACTED = [
  'authorization',
  '["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  'token',
  'apiKey',
  'secret',
  'privateKeyPem',
  'keyPem',
];

/** The logger LOG_LEVEL and LOG_FORMAT describe, writing to stderr unless `destination` is given (tests). */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, destination?: Writable): Logger {
  const options = {
    level: config.logLevel,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level names rather than pino's numbers: a line reads the same to grep, jq and people.
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACTED, censor: '[redacted]' },
  };
  if (config.logFormat === 'pretty') {
    return pino(options, PinoPretty({ destination: destination ?? 2, colorize: destination === undefined && process.stderr.isTTY, sync: true }));
  }
  // Buffered writes: lines gather until 8 KiB or 200 ms have passed, then go out in one write. A write per line
  // (even an asynchronous one, handed to a libuv thread) cost the registry ~7% of its CPU per resolve; batched,
  // the access log costs no measurable CPU. pino flushes what is buffered synchronously when the process exits
  // (a fatal error, SIGTERM), so only a SIGKILL can lose the last lines, at most 200 ms of them.
  return pino(options, destination ?? pino.destination({ dest: 2, sync: false, minLength: 8192, periodicFlush: 200 }));
}

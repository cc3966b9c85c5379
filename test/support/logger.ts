import type { LogFields, Logger } from '../../src/log/logger.ts';

export interface LoggedLine {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly fields: LogFields;
  readonly message: string;
}

/** A Logger that keeps its lines (children's too, with their bindings), for tests that check what was logged. */
export function recordingLogger(bindings: LogFields = {}, lines: LoggedLine[] = []): { logger: Logger; lines: LoggedLine[] } {
  const line = (level: LoggedLine['level']) => (fields: LogFields, message: string) => void lines.push({ level, fields: { ...bindings, ...fields }, message });
  const logger: Logger = {
    error: line('error'),
    warn: line('warn'),
    info: line('info'),
    debug: line('debug'),
    isLevelEnabled: () => true,
    child: (more) => recordingLogger({ ...bindings, ...more }, lines).logger,
  };
  return { logger, lines };
}

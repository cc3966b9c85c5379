import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log/process-logger.ts';

/** A logger writing into an array, one parsed JSON object per line. */
function captured(logLevel: Config['logLevel']): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ logLevel, logFormat: 'json' }, sink), lines };
}

const everyLevel = (logger: ReturnType<typeof createLogger>) => {
  logger.debug({}, 'debug line');
  logger.info({}, 'info line');
  logger.warn({}, 'warn line');
  logger.error({ err: new Error('boom') }, 'error line');
};

describe('the process logger', () => {
  it('writes JSON lines with level, time and msg, from LOG_LEVEL up', () => {
    const { logger, lines } = captured('info');
    everyLevel(logger);
    expect(lines.map((line) => line['msg'])).toEqual(['info line', 'warn line', 'error line']);
    for (const line of lines) expect(line).toEqual(expect.objectContaining({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) }));
    expect(lines[2]).toMatchObject({ level: 'error', err: { message: 'boom' } });
  });

  it('LOG_LEVEL=warn keeps warnings and errors only', () => {
    const { logger, lines } = captured('warn');
    everyLevel(logger);
    expect(lines.map((line) => line['level'])).toEqual(['warn', 'error']);
  });

  it('LOG_LEVEL=silent writes nothing, children included', () => {
    const { logger, lines } = captured('silent');
    everyLevel(logger);
    everyLevel(logger.child({ component: 'c' }));
    expect(lines).toEqual([]);
  });

  it('censors authorization and API key headers whatever a caller passes', () => {
    const { logger, lines } = captured('info');
    logger.info({ headers: { authorization: 'Bearer atr_x_y', 'x-api-key': 'atr_x_y' } }, 'careless');
    expect(JSON.stringify(lines)).not.toContain('atr_x_y');
  });

  it('reads LOG_LEVEL and LOG_FORMAT, and refuses other values', () => {
    expect(loadConfig({}, '/nonexistent/.env')).toMatchObject({ logLevel: 'info', logFormat: 'json' });
    expect(loadConfig({ LOG_LEVEL: 'WARN', LOG_FORMAT: 'pretty' }, '/nonexistent/.env')).toMatchObject({ logLevel: 'warn', logFormat: 'pretty' });
    expect(() => loadConfig({ LOG_LEVEL: 'verbose' }, '/nonexistent/.env')).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_FORMAT: 'xml' }, '/nonexistent/.env')).toThrow(/LOG_FORMAT="xml": must be json or pretty/);
  });
});

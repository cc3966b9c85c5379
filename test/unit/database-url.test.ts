import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../src/config/database-url.ts';

describe('DATABASE_URL', () => {
  it.each([
    ['sqlite:///./var/atr.db', 'sqlite', './var/atr.db'],
    ['sqlite:///var/atr.db', 'sqlite', 'var/atr.db'],
    ['sqlite:////srv/atr/atr.db', 'sqlite', '/srv/atr/atr.db'],
    ['sqlite+aiosqlite:///./atr.db', 'sqlite', './atr.db'],
    ['sqlite::memory:', 'sqlite', ':memory:'],
    ['postgresql://atr:secret@db:5432/atr', 'postgresql', 'postgresql://atr:secret@db:5432/atr'],
    ['postgres://db/atr', 'postgresql', 'postgresql://db/atr'],
    ['postgresql+asyncpg://db/atr', 'postgresql', 'postgresql://db/atr'],
  ])('reads %s', (url, dialect, target) => {
    expect(parseDatabaseUrl(url)).toEqual({ dialect, target });
  });

  it.each(['mysql://db/atr', 'sqlite://relative.db', 'atr.db'])('refuses %s with the accepted forms', (url) => {
    expect(() => parseDatabaseUrl(url)).toThrow(/sqlite/);
  });
});

export type Dialect = 'sqlite' | 'postgresql';

export interface DatabaseLocation {
  readonly dialect: Dialect;
  /** SQLite: a file path or ':memory:'. PostgreSQL: a postgresql:// URL without a driver suffix. */
  readonly target: string;
}

/**
 * The one reader of DATABASE_URL: the settings check it at start with this, and the database opens what it returns.
 * Reads DATABASE_URL in the seed's forms: `sqlite:///./relative.db`, `sqlite:////absolute.db`, `sqlite::memory:`,
 * `sqlite+aiosqlite:///...`, `postgresql://...`, `postgres://...`, `postgresql+asyncpg://...`.
 */
export function parseDatabaseUrl(url: string): DatabaseLocation {
  const sqlite = /^sqlite(?:\+\w+)?:(.*)$/.exec(url);
  if (sqlite) {
    const rest = sqlite[1] ?? '';
    if (rest === ':memory:' || rest === '///:memory:' || rest === '') return { dialect: 'sqlite', target: ':memory:' };
    if (rest.startsWith('///')) return { dialect: 'sqlite', target: rest.slice(3) };
    throw new Error('a SQLite URL is sqlite:///relative/path, sqlite:////absolute/path or sqlite::memory:');
  }
  const postgres = /^postgres(?:ql)?(?:\+\w+)?:\/\/(.*)$/.exec(url);
  if (postgres) return { dialect: 'postgresql', target: `postgresql://${postgres[1] ?? ''}` };
  throw new Error('must start with sqlite: or postgresql://');
}

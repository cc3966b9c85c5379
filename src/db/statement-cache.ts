/** The part of a better-sqlite3 connection the cache wraps. */
interface Preparing {
  prepare(sql: string): unknown;
}

/** How many prepared statements a connection keeps: the registry's queries, and room for the varying IN lists. */
const CACHED_STATEMENTS = 256;

/**
 * Makes `connection.prepare` return the statement prepared earlier for the same SQL. The query builder prepares
 * every statement it runs afresh, which cost about a third of the SQLite time of a registration; a statement runs
 * to completion inside `run`/`all`, so one prepared statement serves every later call, and SQLite re-prepares it by
 * itself after a schema change. Least recently used statements are dropped past CACHED_STATEMENTS.
 */
export function cachePreparedStatements(connection: Preparing): void {
  const prepare = connection.prepare.bind(connection);
  const statements = new Map<string, unknown>();
  connection.prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (statements.size >= CACHED_STATEMENTS) statements.delete(statements.keys().next().value as string);
    } else {
      statements.delete(sql);
    }
    statements.set(sql, statement);
    return statement;
  };
}

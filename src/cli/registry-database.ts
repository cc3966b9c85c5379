// The registry's own database, opened by a command run on the server's host with the server's configuration
// (`keys create --local`, `ca rotate-intermediate`): what it changes there is audited like any other change.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseDatabaseUrl } from '../config/database-url.ts';
import type { Database } from '../db/orm.ts';

/** The actor of a change made on the server's host rather than through the API: the OS user who made it. */
export function localActor(): string {
  return `local:${userInfo().username}`;
}

/** The registry's database at DATABASE_URL; refused, saying where and why, when there is none or it cannot be opened. */
export async function openRegistryDatabase(url: string): Promise<Database> {
  const location = parseDatabaseUrl(url);
  const where = location.dialect === 'sqlite' ? location.target : withoutPassword(location.target);
  if (location.dialect === 'sqlite' && (location.target === ':memory:' || !existsSync(location.target))) {
    throw new Error(`no registry database at ${where} (DATABASE_URL): run this with the configuration the server runs with`);
  }
  const { openDatabase } = await import('../db/orm.ts');
  try {
    return await openDatabase(url);
  } catch (error) {
    throw new Error(`cannot open the registry's database at ${where} (DATABASE_URL): ${(error as Error).message}`);
  }
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

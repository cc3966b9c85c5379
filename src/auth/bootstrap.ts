import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/schema.ts';
import { KEY_FILE_MODE, writeFileAtomic } from '../pki/ca-files.ts';
import type { ApiKeys } from './api-keys.ts';

/**
 * What a start says about access, once: with keys off, a warning that anyone can change the registry; with keys on
 * and no active admin key (none ever made, or all revoked), a new bootstrap admin key written atomically to
 * ADMIN_KEY_FILE (0600) — by exactly one of the processes starting on the database. Admin keys made while keys were
 * off are active admin keys: then no file is written, and the operator uses the key they kept or
 * `atr keys create --local`. The key itself is never logged.
 */
export async function prepareAccess(
  config: Pick<Config, 'apiKeyEnabled' | 'adminKeyFile'>,
  apiKeys: ApiKeys,
  warn: (line: string) => void,
): Promise<void> {
  if (!config.apiKeyEnabled) {
    warn('API keys are off (API_KEY_ENABLED=false): anyone who can reach this server can register, rotate and revoke agents. Use this only for local development.');
    return;
  }
  const created = await apiKeys.bootstrap();
  if (created === undefined) return;
  try {
    mkdirSync(dirname(config.adminKeyFile), { recursive: true, mode: 0o700 });
    writeFileAtomic(config.adminKeyFile, `${created.key}\n`, KEY_FILE_MODE);
  } catch (error) {
    // A key nobody holds must not stay valid; once revoked it no longer counts, so the next start makes another.
    await apiKeys.revoke(created.record.keyId, 'bootstrap');
    throw new Error(`cannot write the bootstrap admin key to ${config.adminKeyFile}: ${(error as Error).message}`);
  }
  warn(
    `API keys: no active admin key existed, so an admin key (${created.record.keyId}) was written to ${config.adminKeyFile} (mode 0600). ` +
      'It is not shown again; the CLI uses it when no key is given. Create your own keys with it, then revoke it.',
  );
}

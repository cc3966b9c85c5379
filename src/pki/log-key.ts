import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCaKey, writeCaKey } from './ca-key.ts';
import { withLockFile } from './lock-file.ts';

/**
 * The transparency log's Ed25519 signing key, `log.key` beside the CA keys: created on first start (mode 0600,
 * encrypted like the CA keys when a passphrase is configured), then loaded. Processes sharing the directory share
 * the key, so their checkpoints verify under one verifier key.
 */
export async function loadOrCreateLogKey(dir: string, passphrase: string | undefined): Promise<KeyObject> {
  const path = join(dir, 'log.key');
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await withLockFile(join(dir, 'log.lock'), async () => {
      if (!existsSync(path)) writeCaKey(path, generateKeyPairSync('ed25519').privateKey, passphrase);
    });
  }
  return readCaKey(path, passphrase);
}

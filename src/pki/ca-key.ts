import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CaError } from './ca-error.ts';
import { KEY_FILE_MODE, writeFileAtomic } from './ca-files.ts';

const ENCRYPTED_LABEL = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

/** Writes a CA private key as PKCS#8 PEM, mode 0600, encrypted (PBES2, AES-256-CBC) when a passphrase is given. */
export function writeCaKey(path: string, key: KeyObject, passphrase: string | undefined): void {
  const pem =
    passphrase === undefined
      ? key.export({ type: 'pkcs8', format: 'pem' })
      : key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
  writeFileAtomic(path, pem.toString(), KEY_FILE_MODE);
}

/** Reads a CA private key; the passphrase must be given exactly when the file is encrypted. */
export function readCaKey(path: string, passphrase: string | undefined): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CaError(`${path}: cannot read the CA key (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const encrypted = pem.includes(ENCRYPTED_LABEL);
  if (encrypted && passphrase === undefined) {
    throw new CaError(`${path}: the CA key is encrypted; configure the CA key passphrase`);
  }
  if (!encrypted && passphrase !== undefined) {
    throw new CaError(`${path}: a CA key passphrase is configured but the key is not encrypted`);
  }
  try {
    return createPrivateKey({ key: pem, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch {
    const rule = encrypted ? 'wrong CA key passphrase (the key does not decrypt)' : 'not a PKCS#8 PEM private key';
    throw new CaError(`${path}: ${rule}`);
  }
}

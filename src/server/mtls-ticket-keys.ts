import { hkdfSync, randomBytes } from 'node:crypto';
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.ts';

/** How long one set of ticket keys encrypts new tickets; a ticket from before a rotation gets a full handshake. */
export const TICKET_KEY_PERIOD_MS = 60 * 60 * 1000;
const SECRET_FILE = 'mtls-ticket.secret';
const SECRET_BYTES = 32;

/**
 * The mTLS listener's session-ticket keys and session id context, derived from a secret kept in PKI_ROOT_DIR (mode
 * 0600, beside the CA keys) and rotated every TICKET_KEY_PERIOD_MS: every process of one registry (node:cluster
 * workers, or processes on other hosts sharing the PKI directory) derives the same keys for the same period, so a
 * ticket issued by one is resumed by all. Whoever reads the secret can decrypt tickets; it is guarded like the CA
 * keys. Where the directory cannot hold it, the secret is this process's own and resumption works within it alone.
 */
export class TicketKeys {
  private constructor(private readonly secret: Buffer) {}

  static load(pkiRootDir: string, logger: Logger): TicketKeys {
    try {
      return new TicketKeys(readOrCreateSecret(join(pkiRootDir, SECRET_FILE)));
    } catch (error) {
      logger.warn({ err: error }, `cannot read or create ${SECRET_FILE} in PKI_ROOT_DIR; TLS sessions resume on this process only`);
      return new TicketKeys(randomBytes(SECRET_BYTES));
    }
  }

  /** Node's 48 bytes (key name, HMAC secret, AES key) for the period `at` falls in. */
  keysAt(at = Date.now()): Buffer {
    return this.derive(`atr mtls session ticket keys ${Math.floor(at / TICKET_KEY_PERIOD_MS)}`, 48);
  }

  /** Milliseconds from `at` to the next rotation. */
  untilRotation(at = Date.now()): number {
    return TICKET_KEY_PERIOD_MS - (at % TICKET_KEY_PERIOD_MS);
  }

  /**
   * Names the sessions of this registry's mTLS listeners (OpenSSL resumes a session only under the context it was
   * made in); Node's default hashes the process's command line, which hosts and deployments may not share.
   */
  sessionIdContext(): string {
    return this.derive('atr mtls session id context', 16).toString('hex');
  }

  private derive(info: string, length: number): Buffer {
    return Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), info, length));
  }
}

/** The secret in `path`, created when absent; processes starting together agree on one (link never replaces a file). */
function readOrCreateSecret(path: string): Buffer {
  try {
    return checked(readFileSync(path), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, randomBytes(SECRET_BYTES), { mode: 0o600, flag: 'wx' });
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temp, { force: true });
  }
  return checked(readFileSync(path), path);
}

function checked(secret: Buffer, path: string): Buffer {
  if (secret.length < SECRET_BYTES) throw new Error(`${path} holds ${secret.length} bytes, fewer than ${SECRET_BYTES}`);
  return secret;
}

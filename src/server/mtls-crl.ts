import { crlEntries } from '../pki/crl-entries.ts';
import { serialOf } from '../pki/fingerprint.ts';
import { reasonCode } from '../pki/revocation-reason.ts';
import { emptyRootCrl } from '../pki/root-crl.ts';
import type { Logger } from '../log/logger.ts';
import type { App } from './app.ts';

/** Why the CRLs refuse a client certificate. */
export type CrlRefusal = 'revoked' | 'superseded' | 'issuer_revoked';

const SUPERSEDED = reasonCode('superseded');

/**
 * The registry's CRLs as the mTLS listener follows them. With MTLS_CRL_CHECK on, a client certificate is refused when
 * its serial is on the intermediates' CRLs (each intermediate's lists the same serials, so the current one's, served
 * at /v1/crl, is read) or the root's CRL (PKI_ROOT_DIR/root.crl) lists the current intermediate: the certificates
 * OpenSSL refused when it was given both CRLs, now refused by the listener's own check after the handshake, by a Map
 * lookup instead of two CRL lookups and signature checks per handshake. Either way, a new CRL is what makes the
 * listener re-check its open connections.
 */
export class MtlsCrl {
  private listed = new Map<string, number>();

  private constructor(
    private readonly app: App,
    private readonly enforced: boolean,
    private readonly intermediateRevoked: boolean,
    private der: Buffer,
  ) {
    if (enforced) this.listed = crlEntries(der);
  }

  static async load(app: App, logger: Logger): Promise<MtlsCrl> {
    const { ca, config } = app;
    const current = await app.revocationList.current();
    if (!config.mtlsCrlCheck) return new MtlsCrl(app, false, false, current);
    const rootCrl = await emptyRootCrl(ca, config.pkiRootDir, config.caKeyPassphrase);
    if (rootCrl === undefined) logger.warn({}, 'root.crl is not in PKI_ROOT_DIR and root.key is not there to sign it: the intermediate counts as not revoked');
    const intermediateRevoked = rootCrl !== undefined && crlEntries(rootCrl, ca.root.publicKey).has(serialOf(ca.intermediate));
    if (intermediateRevoked) logger.error({}, 'root.crl revokes the intermediate: the mTLS listener refuses every agent');
    return new MtlsCrl(app, true, intermediateRevoked, current);
  }

  /** Why the CRLs refuse the certificate with this serial (issued by the intermediate); undefined when they do not. */
  refusalOf(serial: string): CrlRefusal | undefined {
    if (this.intermediateRevoked) return 'issuer_revoked';
    const code = this.listed.get(serial);
    if (code === undefined) return undefined;
    return code === SUPERSEDED ? 'superseded' : 'revoked';
  }

  /** Reads the registry's CRL again; true when it is a new one. */
  async refresh(): Promise<boolean> {
    const next = await this.app.revocationList.current();
    if (next.equals(this.der)) return false;
    if (this.enforced) this.listed = crlEntries(next);
    this.der = next;
    return true;
  }
}

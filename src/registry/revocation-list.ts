import type { CertificateAuthority } from '../pki/ca.ts';
import { buildCrl } from '../pki/crl.ts';
import { parseRevocationReason } from '../pki/revocation-reason.ts';
import type { RegistryStore } from './store.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The intermediate's CRL: every superseded or revoked certificate that has not expired yet. Rebuilt after a local
 * rotate or revoke, and at least every `maxAgeMs` so that changes made by other processes show up.
 */
export class RevocationList {
  private cached: { der: Buffer; builtAt: number; generation: number } | undefined;
  private building: Promise<Buffer> | undefined;
  private generation = 0;

  constructor(
    private readonly store: RegistryStore,
    private readonly ca: CertificateAuthority,
    private readonly maxAgeMs = 30_000,
  ) {}

  invalidate(): void {
    this.generation += 1;
  }

  current(): Promise<Buffer> {
    const cached = this.cached;
    if (cached && cached.generation === this.generation && Date.now() - cached.builtAt < this.maxAgeMs) {
      return Promise.resolve(cached.der);
    }
    this.building ??= this.build().finally(() => {
      this.building = undefined;
    });
    return this.building;
  }

  private async build(): Promise<Buffer> {
    const generation = this.generation;
    const now = new Date();
    const retired = await this.store.listRetiredCertificates(now);
    const der = await buildCrl(
      this.ca,
      retired.map((certificate) => ({
        serial: certificate.serial,
        revokedAt: certificate.revokedAt ?? now,
        reason: parseRevocationReason(certificate.revocationReason ?? ''),
      })),
      // Milliseconds since the epoch: increases across restarts and processes without shared state.
      { crlNumber: BigInt(now.getTime()), thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY_MS) },
    );
    this.cached = { der, builtAt: now.getTime(), generation };
    return der;
  }
}

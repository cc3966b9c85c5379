import type { CertificateAuthority, Intermediate } from '../pki/ca.ts';
import { buildCrl } from '../pki/crl.ts';
import { parseRevocationReason } from '../pki/revocation-reason.ts';
import type { RegistryStore } from './store.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

interface Built {
  readonly der: Buffer;
  readonly builtAt: number;
  readonly generation: number;
}

/**
 * The intermediates' CRLs: every superseded or revoked certificate that has not expired yet. Each intermediate the CA
 * still holds (the current one, and earlier ones until they expire) signs its own; all list the same serials, which
 * are random 127-bit numbers, so a serial names one certificate whichever intermediate issued it. Rebuilt after a
 * local rotate or revoke, and at least every `maxAgeMs` so that changes made by other processes show up.
 */
export class RevocationList {
  /** By the serial of the intermediate that signed it. */
  private readonly cached = new Map<string, Built>();
  private readonly building = new Map<string, Promise<Buffer>>();
  private generation = 0;

  constructor(
    private readonly store: RegistryStore,
    private readonly ca: CertificateAuthority,
    private readonly maxAgeMs = 30_000,
  ) {}

  invalidate(): void {
    this.generation += 1;
  }

  /** The current intermediate's CRL. */
  current(): Promise<Buffer> {
    return this.signedBy(this.ca.current);
  }

  /** The CRL of the intermediate with this serial (lowercase hex); undefined when the CA holds no such intermediate. */
  of(serial: string): Promise<Buffer> | undefined {
    const intermediate = this.ca.intermediates.find((each) => each.serial === serial);
    return intermediate && this.signedBy(intermediate);
  }

  private signedBy(intermediate: Intermediate): Promise<Buffer> {
    const cached = this.cached.get(intermediate.serial);
    if (cached && cached.generation === this.generation && Date.now() - cached.builtAt < this.maxAgeMs) {
      return Promise.resolve(cached.der);
    }
    let building = this.building.get(intermediate.serial);
    if (building === undefined) {
      building = this.build(intermediate).finally(() => this.building.delete(intermediate.serial));
      this.building.set(intermediate.serial, building);
    }
    return building;
  }

  private async build(intermediate: Intermediate): Promise<Buffer> {
    const generation = this.generation;
    const now = new Date();
    const retired = await this.store.listRetiredCertificates(now);
    const der = await buildCrl(
      intermediate,
      retired.map((certificate) => ({
        serial: certificate.serial,
        revokedAt: certificate.revokedAt ?? now,
        reason: parseRevocationReason(certificate.revocationReason ?? ''),
      })),
      // Milliseconds since the epoch: increases across restarts and processes without shared state.
      { crlNumber: BigInt(now.getTime()), thisUpdate: now, nextUpdate: new Date(now.getTime() + DAY_MS) },
    );
    for (const serial of this.cached.keys()) {
      if (!this.ca.intermediates.some((each) => each.serial === serial)) this.cached.delete(serial);
    }
    this.cached.set(intermediate.serial, { der, builtAt: now.getTime(), generation });
    return der;
  }
}

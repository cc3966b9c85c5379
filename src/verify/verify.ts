import { X509Certificate } from 'node:crypto';
import { DomainError } from '../errors.ts';
import type { CertificateAuthority, Intermediate } from '../pki/ca.ts';
import { issuerOf } from '../pki/chain.ts';
import { derProblemOf, derRule } from '../pki/der-structure.ts';
import { fingerprintOf } from '../pki/fingerprint.ts';
import { decodeOnePem } from '../pki/pem.ts';
import { type AgentStatus, statusOf } from '../registry/records.ts';
import { certificateState } from './current-certificate.ts';
import { auditVerification, type VerificationRecording } from './verification-audit.ts';

export const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** Why a certificate passed or failed, in the order the checks run. */
export type VerifyReason =
  | 'verified'
  | 'malformed'
  | 'untrusted_issuer'
  | 'expired'
  | 'not_yet_valid'
  | 'unknown_agent'
  | 'revoked'
  | 'superseded';

export interface VerifyResult {
  readonly verified: boolean;
  readonly reason: VerifyReason;
  readonly message: string;
  readonly agentName?: string | undefined;
  readonly status?: AgentStatus | undefined;
  readonly expiresAt?: Date | undefined;
  readonly fingerprint?: string | undefined;
  readonly serial?: string | undefined;
}

/** The CA, and where verifications are recorded: store, log (a leaf per verification), audit choice, counter. */
export interface VerifierOptions extends VerificationRecording {
  readonly ca: CertificateAuthority;
  readonly now?: () => Date;
}

/**
 * Verifies certificates against the registry's CA (with OpenSSL) and the registry's state; records every call as
 * the options say.
 */
export class Verifier {
  private readonly now: () => Date;
  /** What certificates' bytes said, by the SHA-256 of those bytes, least recently used first. */
  private readonly readCertificates = new Map<string, ReadCertificate>();

  constructor(private readonly options: VerifierOptions) {
    this.now = options.now ?? (() => new Date());
  }

  async verify(input: { pem?: string | undefined; der?: Uint8Array | undefined }, actor: string): Promise<VerifyResult> {
    const result = await this.check(input);
    await auditVerification(this.options, result, actor, {}, this.now());
    return result;
  }

  private async check(input: { pem?: string | undefined; der?: Uint8Array | undefined }): Promise<VerifyResult> {
    const read = this.read(decodeInput(input));
    if (read === undefined) return refused('malformed', 'not a parsable X.509 certificate');
    const { fingerprint, serial, agentName } = read;
    const named = { fingerprint, serial, agentName };
    if (read.issuer === undefined) return refused('untrusted_issuer', 'not issued by this registry', named);
    const now = this.now();
    const notAfter = new Date(read.notAfter);
    if (read.notAfter <= now.getTime()) {
      return refused('expired', `certificate expired at ${notAfter.toISOString()}`, { ...named, expiresAt: notAfter });
    }
    if (read.notBefore > now.getTime()) {
      return refused('not_yet_valid', `certificate is not valid before ${new Date(read.notBefore).toISOString()}`, named);
    }
    const found = await this.options.store.findCertificate(fingerprint);
    if (!found) return refused('unknown_agent', 'no agent holds this certificate', named);
    const { agent, certificate: record } = found;
    const about = { ...named, agentName: agent.name, status: statusOf(agent, now), expiresAt: record.notAfter };
    const state = certificateState(agent, record, now);
    if (!state.current) return refused(state.reason, state.message, about);
    return { verified: true, reason: 'verified', message: `certificate is the current one of active agent ${agent.name}`, ...about };
  }

  /** The certificate's bytes read and checked against the CA, or undefined when OpenSSL cannot parse them. */
  private read(der: Uint8Array): ReadCertificate | undefined {
    const key = fingerprintOf(der);
    const known = this.readCertificates.get(key);
    this.readCertificates.delete(key);
    // Checked again when its issuer is not (or no longer) among the CA's intermediates: the CA may have changed since.
    if (known?.issuer !== undefined && this.options.ca.intermediates.includes(known.issuer)) {
      this.readCertificates.set(key, known);
      return known;
    }
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(der);
    } catch {
      return undefined;
    }
    const read: ReadCertificate = {
      fingerprint: fingerprintOf(certificate.raw),
      serial: certificate.serialNumber.toLowerCase(),
      agentName: agentNameOf(certificate),
      issuer: issuerOf(this.options.ca, certificate),
      notBefore: new Date(certificate.validFrom).getTime(),
      notAfter: new Date(certificate.validTo).getTime(),
    };
    this.readCertificates.set(key, read);
    if (this.readCertificates.size > READ_CERTIFICATES_KEPT) {
      const oldest = this.readCertificates.keys().next().value;
      if (oldest !== undefined) this.readCertificates.delete(oldest);
    }
    return read;
  }
}

/**
 * What a certificate's bytes say, checked against the registry's CA: the same for the same bytes while their issuer
 * stays one of the CA's intermediates, so an agent whose certificate is verified again and again costs one parse and
 * one signature check, not one a call (OpenSSL's parse was a quarter of a verification). Validity times and the
 * registry's state are still checked on every call.
 */
interface ReadCertificate {
  readonly fingerprint: string;
  readonly serial: string;
  readonly agentName: string | undefined;
  /** The registry's intermediate that issued it; undefined when none did. */
  readonly issuer: Intermediate | undefined;
  readonly notBefore: number;
  readonly notAfter: number;
}

const READ_CERTIFICATES_KEPT = 10_000;

function refused(reason: VerifyReason, message: string, details: Partial<VerifyResult> = {}): VerifyResult {
  return { ...details, verified: false, reason, message };
}

/**
 * The DER the request carries: exactly one of cert_pem (one CERTIFICATE block) or cert_der, at most 64 KiB, one
 * well-formed DER value. Input that is not even that is a bad request (InvalidArgument, nothing audited or
 * counted); DER that is well formed but not a certificate OpenSSL can read is a verification that failed as malformed.
 */
function decodeInput(input: { pem?: string | undefined; der?: Uint8Array | undefined }): Uint8Array {
  const hasPem = Boolean(input.pem);
  const hasDer = Boolean(input.der && input.der.length > 0);
  if (hasPem === hasDer) throw new DomainError('invalid_argument', 'cert_pem, cert_der: exactly one must be set');
  const field = hasPem ? 'cert_pem' : 'cert_der';
  const der = hasPem
    ? decodeOnePem(input.pem ?? '', { field, labels: ['CERTIFICATE'], maxBytes: MAX_CERTIFICATE_BYTES, code: 'invalid_certificate' })
    : (input.der ?? new Uint8Array());
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw new DomainError('input_too_large', `${field}: must be at most ${MAX_CERTIFICATE_BYTES} bytes`);
  }
  const problem = derProblemOf(der);
  if (problem) throw new DomainError('invalid_certificate', `${field}: ${derRule(problem, 'X.509 certificate', 'certificate')}`);
  return der;
}

/** The agent name a certificate claims, from its dNSName SAN, for messages about unknown certificates. */
function agentNameOf(certificate: X509Certificate): string | undefined {
  const dns = certificate.subjectAltName?.split(', ').find((entry) => entry.startsWith('DNS:'));
  return dns?.slice(4);
}

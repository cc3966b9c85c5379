import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { type VerifyCertificateRequest, VerifyReason, type VerifyService } from '../../gen/atr/v1/verify_pb.js';
import type { CertificateAuthority } from '../pki/ca.ts';
import type { RevocationList } from '../registry/revocation-list.ts';
import type { VerifyReason as DomainReason, Verifier } from '../verify/verify.ts';
import { actorOf } from './context.ts';
import { statusToProto, timestamp } from './convert.ts';

const REASON_TO_PROTO: Record<DomainReason, VerifyReason> = {
  verified: VerifyReason.VERIFIED,
  malformed: VerifyReason.MALFORMED,
  untrusted_issuer: VerifyReason.UNTRUSTED_ISSUER,
  expired: VerifyReason.EXPIRED,
  not_yet_valid: VerifyReason.NOT_YET_VALID,
  unknown_agent: VerifyReason.UNKNOWN_AGENT,
  revoked: VerifyReason.REVOKED,
  superseded: VerifyReason.SUPERSEDED,
};

export class VerifyServiceImpl implements ServiceImpl<typeof VerifyService> {
  constructor(
    private readonly verifier: Verifier,
    private readonly ca: CertificateAuthority,
    private readonly revocationList: RevocationList,
  ) {}

  async verifyCertificate(request: VerifyCertificateRequest, context: HandlerContext) {
    const result = await this.verifier.verify({ pem: request.certPem, der: request.certDer }, actorOf(context));
    return {
      verified: result.verified,
      agentName: result.agentName ?? '',
      status: statusToProto(result.status),
      expiresAt: timestamp(result.expiresAt),
      reason: REASON_TO_PROTO[result.reason],
      message: result.message,
      certFingerprint: result.fingerprint ?? '',
      certSerial: result.serial ?? '',
    };
  }

  async getTrustBundle() {
    return {
      trustBundlePem: this.ca.trustBundlePem,
      rootPem: this.ca.rootPem,
      intermediatePem: this.ca.intermediatePem,
      crlDer: await this.revocationList.current(),
      trustDomain: this.ca.trustDomain,
    };
  }
}

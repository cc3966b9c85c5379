import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import {
  type VerifyCertificateRequest,
  VerifyReason,
  type VerifyService,
  type VerifyTokenRequest,
  type WatchRevocationsRequest,
} from '../../gen/atr/v1/verify_pb.js';
import { invalidArgument } from '../errors.ts';
import type { CertificateAuthority } from '../pki/ca.ts';
import type { RevocationFeed } from '../registry/revocation-feed.ts';
import type { RevocationList } from '../registry/revocation-list.ts';
import type { TokenVerifier, TokenVerifyReason } from '../verify/token.ts';
import type { VerifyReason as DomainReason, Verifier } from '../verify/verify.ts';
import { actorOf } from './context.ts';
import { statusToProto, timestamp } from './convert.ts';

/** How far back WatchRevocations catches up: a day, the CRL's own lifetime. */
const MAX_WATCH_SINCE_SECONDS = 86_400;

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

const TOKEN_REASON_TO_PROTO: Record<TokenVerifyReason, VerifyReason> = {
  ...REASON_TO_PROTO,
  invalid_token: VerifyReason.INVALID_TOKEN,
  bad_signature: VerifyReason.BAD_SIGNATURE,
  wrong_audience: VerifyReason.WRONG_AUDIENCE,
  replayed: VerifyReason.REPLAYED,
  rate_limited: VerifyReason.RATE_LIMITED,
};

export class VerifyServiceImpl implements ServiceImpl<typeof VerifyService> {
  constructor(
    private readonly verifier: Verifier,
    private readonly ca: CertificateAuthority,
    private readonly revocationList: RevocationList,
    /** Token verification holds replay state, so one TokenVerifier must serve every listener of the process. */
    private readonly tokenVerifier: TokenVerifier,
    private readonly revocations: RevocationFeed,
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

  async verifyToken(request: VerifyTokenRequest, context: HandlerContext) {
    const result = await this.tokenVerifier.verify({ token: request.token, audience: request.audience }, actorOf(context));
    return {
      verified: result.verified,
      reason: TOKEN_REASON_TO_PROTO[result.reason],
      message: result.message,
      agentName: result.agentName ?? '',
      status: statusToProto(result.status),
      certFingerprint: result.fingerprint ?? '',
      claims: result.claims,
      expiresAt: timestamp(result.expiresAt),
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

  async *watchRevocations(request: WatchRevocationsRequest, context: HandlerContext) {
    if (request.sinceSeconds > MAX_WATCH_SINCE_SECONDS) {
      throw invalidArgument('since_seconds', `must be at most ${MAX_WATCH_SINCE_SECONDS}`);
    }
    for await (const event of this.revocations.watch(request.sinceSeconds, context.signal)) {
      yield {
        agentName: event.agentName,
        certFingerprint: event.fingerprint,
        certSerial: event.serial,
        reason: event.reason,
        revokedAt: timestamp(event.revokedAt),
      };
    }
  }
}

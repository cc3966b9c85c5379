import { X509Certificate } from 'node:crypto';
import { DomainError, invalidArgument } from '../errors.ts';
import { isIssuedByRegistry } from '../pki/chain.ts';
import { fingerprintOf } from '../pki/fingerprint.ts';
import { type AgentRecord, type CertificateRecord, statusOf } from '../registry/records.ts';
import {
  algorithmForKey,
  type JsonObject,
  JwsError,
  MAX_TOKEN_LIFETIME_SECONDS,
  type ParsedToken,
  parseToken,
  type SignatureCheck,
  type TokenKeyReference,
  verifySignature,
} from './jws.ts';
import type { ReplayCheck, ReplayGuard } from './replay-guard.ts';
import { certificateState } from './current-certificate.ts';
import { auditVerification } from './verification-audit.ts';
import type { VerifierOptions, VerifyReason, VerifyResult } from './verify.ts';

export const MAX_TOKEN_BYTES = 64 * 1024;
export const MAX_AUDIENCE_LENGTH = 1024;
/** How far ahead of ours a signer's clock may run (iat, nbf). */
export const CLOCK_SKEW_SECONDS = 60;

/** The certificate reasons, plus the ones only a token can fail with. */
export type TokenVerifyReason = VerifyReason | 'invalid_token' | 'bad_signature' | 'wrong_audience' | 'replayed' | 'rate_limited';

export interface TokenVerifyResult extends Omit<VerifyResult, 'reason'> {
  readonly reason: TokenVerifyReason;
  /** The token's claims, once its signature verified. expiresAt is then the token's exp. */
  readonly claims?: JsonObject | undefined;
}

/** The certificate Verifier's options (ca, store, log, now), plus where token ids and budgets are kept. */
export interface TokenVerifierOptions extends VerifierOptions {
  /** InMemoryReplayGuard for one process; with Redis, SharedReplayGuard shares ids and budgets between processes. */
  readonly replayGuard: ReplayGuard;
}

/** The signing certificate a token names, found in the registry. */
interface Signer {
  readonly certificate: X509Certificate;
  readonly record: CertificateRecord;
  readonly agent: AgentRecord;
}

/**
 * Verifies compact JWS tokens signed by an agent's key against the registry's state: the certificate the header
 * names must be the agent's current one, the claims must name that agent, and each token is accepted once.
 * Every call is counted, and audited as AUDIT_VERIFICATIONS says, like certificate verifications.
 */
export class TokenVerifier {
  private readonly now: () => Date;
  private readonly replayGuard: ReplayGuard;

  constructor(private readonly options: TokenVerifierOptions) {
    this.now = options.now ?? (() => new Date());
    this.replayGuard = options.replayGuard;
  }

  async verify(input: { token: string; audience: string }, actor: string): Promise<TokenVerifyResult> {
    checkInput(input);
    const result = await this.check(input);
    const jti = result.claims?.jti;
    const metadata = { kind: 'token', audience: input.audience, ...(typeof jti === 'string' && { jti }) };
    await auditVerification(this.options, result, actor, metadata, this.now());
    return result;
  }

  private async check(input: { token: string; audience: string }): Promise<TokenVerifyResult> {
    let token: ParsedToken;
    try {
      token = parseToken(input.token);
    } catch (error) {
      if (error instanceof JwsError) return refused('invalid_token', error.message);
      throw error;
    }
    const found = await this.signerOf(token.key);
    if ('reason' in found) return found;
    const { certificate, record, agent } = found;
    const now = this.now();
    const status = statusOf(agent, now);
    const about = { fingerprint: record.fingerprint, serial: record.serial, agentName: agent.name, status };
    let signature: SignatureCheck;
    try {
      signature = await verifySignature(input.token, certificate.publicKey);
    } catch (error) {
      if (error instanceof JwsError) return refused('invalid_token', error.message, about);
      throw error;
    }
    if (signature === 'wrong_algorithm') {
      const keyAlg = algorithmForKey(certificate.publicKey);
      const expected = keyAlg ? `; this key signs ${keyAlg}` : '; this key type cannot sign tokens';
      return refused('invalid_token', `alg ${token.alg} does not match the certificate's key${expected}`, about);
    }
    if (signature === 'bad_signature') {
      return refused('bad_signature', `signature does not verify with the key of ${agent.name}'s certificate`, about);
    }
    const { claims } = token;
    const signed = { ...about, claims: token.payload, expiresAt: new Date(claims.exp * 1000) };
    if (claims.iss !== claims.sub) {
      return refused('invalid_token', `iss (${claims.iss}) and sub (${claims.sub}) must both be the agent name`, signed);
    }
    if (claims.iss !== agent.name) {
      return refused('invalid_token', `iss and sub name ${claims.iss}, but the certificate is ${agent.name}'s`, signed);
    }
    const nowSeconds = now.getTime() / 1000;
    if (claims.exp <= nowSeconds) return refused('expired', `token expired at ${signed.expiresAt.toISOString()}`, signed);
    const notBefore = Math.max(claims.iat, claims.nbf ?? claims.iat);
    if (notBefore > nowSeconds + CLOCK_SKEW_SECONDS) {
      return refused('not_yet_valid', `token is not valid before ${new Date(notBefore * 1000).toISOString()}`, signed);
    }
    if (claims.exp - claims.iat > MAX_TOKEN_LIFETIME_SECONDS) {
      return refused('invalid_token', `exp is ${claims.exp - claims.iat} s after iat; at most ${MAX_TOKEN_LIFETIME_SECONDS} s`, signed);
    }
    if (!claims.aud.includes(input.audience)) {
      return refused('wrong_audience', `aud does not include ${input.audience}`, signed);
    }
    const state = certificateState(agent, record, now);
    if (!state.current) return refused(state.reason, `token signer: ${state.message}`, signed);
    // Scoped by agent, so one agent's ids and budget can never use up another's.
    const presentation = { agent: agent.name, jti: claims.jti, expiresAtMs: claims.exp * 1000, nowMs: now.getTime() };
    const replay = await this.replayGuard.claim(presentation);
    if (replay.outcome !== 'claimed') return refused(...replayRefusal(replay, claims.jti, agent.name, now), signed);
    return { verified: true, reason: 'verified', message: `token signed by active agent ${agent.name}`, ...signed };
  }

  /** The certificate named by x5t#S256 or sent in x5c, with its agent; or why there is none. */
  private async signerOf(key: TokenKeyReference): Promise<Signer | TokenVerifyResult> {
    let leaf: X509Certificate | undefined;
    let fingerprint = key.fingerprint;
    const [leafDer] = key.chain ?? [];
    if (leafDer) {
      try {
        leaf = new X509Certificate(leafDer);
      } catch {
        return refused('invalid_token', 'x5c leaf is not a parsable X.509 certificate');
      }
      const leafFingerprint = fingerprintOf(leaf.raw);
      if (fingerprint !== undefined && fingerprint !== leafFingerprint) {
        return refused('invalid_token', 'x5t#S256 and the x5c leaf name different certificates');
      }
      fingerprint = leafFingerprint;
      if (!isIssuedByRegistry(this.options.ca, leaf)) {
        return refused('untrusted_issuer', 'x5c leaf was not issued by this registry', { fingerprint });
      }
    }
    // parseToken guarantees one of the two.
    const found = fingerprint === undefined ? undefined : await this.options.store.findCertificate(fingerprint);
    if (!found) return refused('unknown_agent', 'no agent holds the certificate the token names', { fingerprint });
    return { certificate: leaf ?? new X509Certificate(found.certificate.pem), record: found.certificate, agent: found.agent };
  }
}

function checkInput(input: { token: string; audience: string }): void {
  if (!input.token) throw invalidArgument('token', 'is required');
  if (Buffer.byteLength(input.token) > MAX_TOKEN_BYTES) {
    throw new DomainError('input_too_large', `token: must be at most ${MAX_TOKEN_BYTES} bytes`);
  }
  if (!input.audience) throw invalidArgument('audience', 'is required: the audience this verifier expects');
  // The audience is written to the audit trail with the verification.
  if (input.audience.length > MAX_AUDIENCE_LENGTH || /[\p{Cc}\p{Cf}\p{Cs}]/u.test(input.audience)) {
    throw invalidArgument('audience', `must be at most ${MAX_AUDIENCE_LENGTH} characters, without control characters`);
  }
}

/** Why the replay guard did not accept a token: the reason and the message. */
function replayRefusal(check: ReplayCheck, jti: string, agentName: string, now: Date): [TokenVerifyReason, string] {
  switch (check.outcome) {
    case 'rate_limited': {
      const seconds = Math.max(1, Math.ceil((check.retryAtMs - now.getTime()) / 1000));
      return ['rate_limited', `rate limit: ${check.budget} new tokens per minute for agent ${agentName}; retry in ${seconds} s`];
    }
    // The last-resort cap over all agents, not this one's budget; retrying once ids have expired can succeed.
    case 'full':
      return ['rate_limited', 'too many unexpired tokens of all agents to remember; retry in a minute'];
    default:
      return ['replayed', `jti ${jti} was already presented`];
  }
}

function refused(reason: TokenVerifyReason, message: string, details: Partial<TokenVerifyResult> = {}): TokenVerifyResult {
  return { ...details, verified: false, reason, message };
}

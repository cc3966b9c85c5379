import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { CompactSign } from 'jose';
import { algorithmForKey, decodeJws, type JsonObject, MAX_TOKEN_LIFETIME_SECONDS as MAX_TOKEN_TTL_SECONDS, thumbprintOf } from '../verify/jws.ts';

export type { JsonObject, JsonValue } from '../verify/jws.ts';
/** The registry refuses tokens whose exp is more than this many seconds after iat. */
export { MAX_TOKEN_TTL_SECONDS };

export interface SignTokenOptions {
  /** The agent's registered name: iss and sub. */
  readonly agentName: string;
  /** The agent's private key (PKCS#8 or traditional PEM): EC P-256 signs ES256, Ed25519 EdDSA, RSA RS256. */
  readonly keyPem: string;
  /** The agent's current certificate, named in the header by its x5t#S256 thumbprint. */
  readonly certPem: string;
  /** Who the token is for; the verifier must ask for one of them. */
  readonly audience: string | readonly string[];
  /** Default 60, at most 300. */
  readonly ttlSeconds?: number;
  /** Default a random UUID; each token id is accepted once. */
  readonly jti?: string;
  /** Claims to add; the registered ones above (iss, sub, aud, iat, exp, jti) always win. */
  readonly claims?: JsonObject;
  readonly now?: Date;
}

/** A compact JWS the registry verifies with VerifyService.VerifyToken, signed by jose (asynchronously, as WebCrypto signs). */
export async function signToken(options: SignTokenOptions): Promise<string> {
  const ttl = options.ttlSeconds ?? 60;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds: must be a whole number from 1 to ${MAX_TOKEN_TTL_SECONDS}, got ${ttl}`);
  }
  const key = createPrivateKey(options.keyPem);
  const alg = algorithmForKey(key);
  if (!alg) throw new TypeError('keyPem: tokens are signed with EC P-256, Ed25519 or RSA keys');
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const header = { alg, typ: 'JWT', 'x5t#S256': thumbprintOf(new X509Certificate(options.certPem).raw) };
  const payload = {
    ...options.claims,
    iss: options.agentName,
    sub: options.agentName,
    aud: typeof options.audience === 'string' ? options.audience : [...options.audience],
    iat,
    exp: iat + ttl,
    jti: options.jti ?? randomUUID(),
  };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header).sign(key);
}

/** A token's header and claims, NOT verified: for logging and debugging only. Throws when it is not a compact JWS. */
export function decodeToken(token: string): { header: JsonObject; claims: JsonObject } {
  const { header, payload } = decodeJws(token);
  return { header, claims: payload };
}

// The signing side of Standard Webhooks against the vector the specification's reference library publishes, and
// against the receiver's check in receiver.ts, written from the specification's text.
import { describe, expect, it } from 'vitest';
import { newSecret, sign, signedHeaders } from '../../src/webhooks/signature.ts';
import { verificationFailure } from './receiver.ts';

describe('Standard Webhooks signatures', () => {
  it("matches the reference library's published vector", () => {
    // standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts, "sign function works".
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(sign(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('makes whsec_ secrets of 32 random bytes, never the same twice', () => {
    const secrets = Array.from({ length: 50 }, newSecret);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    }
    expect(new Set(secrets).size).toBe(secrets.length);
  });

  it('signs headers an independent check accepts, and that fail once anything signed changes', () => {
    const secret = newSecret();
    const body = JSON.stringify({ type: 'agent.revoked', timestamp: '2026-01-01T00:00:00.000Z', data: { agent_name: 'a.example' } });
    const now = new Date();
    const headers = signedHeaders(secret, 'evt_1z', body, now);
    expect(headers['webhook-id']).toBe('evt_1z');
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(verificationFailure(secret, headers, body)).toBeUndefined();
    expect(verificationFailure(secret, headers, body.replace('a.example', 'b.example'))).toBe('no signature matches');
    expect(verificationFailure(secret, { ...headers, 'webhook-id': 'evt_20' }, body)).toBe('no signature matches');
    const later = String(Number(headers['webhook-timestamp']) + 1);
    expect(verificationFailure(secret, { ...headers, 'webhook-timestamp': later }, body)).toBe('no signature matches');
    expect(verificationFailure(newSecret(), headers, body)).toBe('no signature matches');
    expect(verificationFailure(secret, headers, body, now.getTime() / 1000 + 600)).toBe('timestamp outside the tolerance');
  });
});

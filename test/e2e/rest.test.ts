import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects } from '../support/databases.ts';
import { keyAndCsr, publicKeyOf } from '../support/keys.ts';
import { runningServer } from '../support/server.ts';

type Json = Record<string, unknown>;

// The seed's README, call by call, against a real listener.
describe.each(dialects)('REST API on %s', (dialect) => {
  let base: string;
  let cleanup: () => Promise<void>;
  const scratch = mkdtempSync(join(tmpdir(), 'atr-rest-'));

  beforeAll(async () => {
    const started = await runningServer(dialect);
    base = started.server.url;
    cleanup = started.cleanup;
  });
  afterAll(() => cleanup());

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text.startsWith('{') ? JSON.parse(text) : text) as Json, headers: response.headers };
  };
  const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const file = (name: string, content: string | Uint8Array) => {
    const path = join(scratch, name);
    writeFileSync(path, content);
    return path;
  };

  it('runs the whole lifecycle the way the seed README shows it', async () => {
    const created = await call('POST', '/v1/agents', { agent_name: 'billing.agents.example', owner: 'finance', capabilities: ['invoice', 'pay'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      agent_name: 'billing.agents.example',
      owner: 'finance',
      capabilities: ['invoice', 'pay'],
      status: 'active',
      version: 1,
      revoked_at: null,
      spiffe_id: 'spiffe://atr.local/agent/billing.agents.example',
    });
    for (const field of ['cert_pem', 'chain_pem', 'private_key_pem', 'cert_fingerprint', 'cert_serial', 'issued_at', 'expires_at', 'created_at']) {
      expect(created.body[field], field).toBeTruthy();
    }
    expect(created.body).not.toHaveProperty('agent');

    // The certificate chains to the trust bundle with OpenSSL.
    const bundle = await call('GET', '/v1/trust-bundle');
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toBe('application/x-pem-file');
    const bundlePath = file('bundle.pem', bundle.body as unknown as string);
    const certPath = file('billing.pem', created.body['cert_pem'] as string);
    expect(openssl('verify', '-CAfile', bundlePath, certPath)).toContain(': OK');
    const text = openssl('x509', '-in', certPath, '-noout', '-text');
    expect(text).toContain('DNS:billing.agents.example');
    expect(text).toContain('URI:spiffe://atr.local/agent/billing.agents.example');
    expect(text).toContain('TLS Web Client Authentication, TLS Web Server Authentication');
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toContain(`${base}/v1/crl`);

    const listed = await call('GET', '/v1/agents?owner=finance&status=active&capability=pay&limit=10&offset=0');
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ total: 1, limit: 10, offset: 0 });
    expect((listed.body['agents'] as Json[]).map((a) => a['agent_name'])).toEqual(['billing.agents.example']);

    const fetched = await call('GET', '/v1/agents/billing.agents.example');
    expect(fetched.body).toMatchObject({ agent_name: 'billing.agents.example', status: 'active', cert_fingerprint: created.body['cert_fingerprint'] });
    const cert = await call('GET', '/v1/agents/billing.agents.example/cert');
    expect(cert.body).toMatchObject({ agent_name: 'billing.agents.example', cert_pem: created.body['cert_pem'] });

    const verified = await call('POST', '/v1/verify/cert', { cert_pem: created.body['cert_pem'] });
    expect(verified.body).toMatchObject({ verified: true, agent_name: 'billing.agents.example', status: 'active', reason: 'verified' });
    expect(verified.body['expires_at']).toBe(created.body['expires_at']);

    const { csrPem, publicKeyPem } = await keyAndCsr();
    const rotated = await call('POST', '/v1/agents/billing.agents.example/rotate', { csr_pem: csrPem });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ agent_name: 'billing.agents.example', version: 2, private_key_pem: null });
    expect(publicKeyOf(rotated.body['cert_pem'] as string)).toBe(publicKeyPem);
    const old = await call('POST', '/v1/verify/cert', { cert_pem: created.body['cert_pem'] });
    expect(old.body).toMatchObject({ verified: false, reason: 'superseded' });

    const resolved = await call('GET', '/v1/resolve/billing.agents.example');
    expect(resolved.body).toMatchObject({ agent_name: 'billing.agents.example', status: 'active', owner: 'finance', cert_fingerprint: rotated.body['cert_fingerprint'] });

    const revoked = await call('POST', '/v1/agents/billing.agents.example/revoke', { reason: 'keyCompromise' });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ status: 'revoked', revocation_reason: 'keyCompromise' });
    const refused = await call('POST', '/v1/verify/cert', { cert_pem: rotated.body['cert_pem'] });
    expect(refused.body).toMatchObject({ verified: false, status: 'revoked', reason: 'revoked' });

    // The CRL is the certificates' distribution point: OpenSSL refuses the revoked certificate with it.
    const crl = await fetch(`${base}/v1/crl`);
    expect(crl.headers.get('content-type')).toBe('application/pkix-crl');
    const crlPath = file('crl.der', new Uint8Array(await crl.arrayBuffer()));
    const crlPem = file('crl.pem', openssl('crl', '-inform', 'DER', '-in', crlPath));
    const rotatedPath = file('rotated.pem', rotated.body['cert_pem'] as string);
    let refusal = '';
    try {
      openssl('verify', '-crl_check', '-CAfile', bundlePath, '-CRLfile', crlPem, rotatedPath);
    } catch (error) {
      refusal = String((error as { stdout?: string }).stdout) + String((error as { stderr?: string }).stderr);
    }
    expect(refusal).toContain('certificate revoked');

    const audit = await call('GET', '/v1/audit?agent_name=billing.agents.example&limit=50');
    expect(audit.status).toBe(200);
    expect(audit.body['total']).toBe(6);
    expect((audit.body['events'] as Json[]).map((e) => e['event_type'])).toEqual([
      'cert.verified',
      'agent.revoked',
      'cert.verified',
      'agent.rotated',
      'cert.verified',
      'agent.registered',
    ]);
    const registeredEvent = (audit.body['events'] as Json[]).at(-1)!;
    expect(registeredEvent).toMatchObject({ event_type: 'agent.registered', agent_name: 'billing.agents.example' });
    expect(registeredEvent['actor']).toMatch(/^anonymous@/);
    expect(registeredEvent['metadata']).toMatchObject({ owner: 'finance', key_source: 'generated' });
    expect(JSON.stringify(audit.body)).not.toContain('PRIVATE KEY');

    const updated = await call('PATCH', '/v1/agents/billing.agents.example', { description: 'x' });
    expect(updated.status).toBe(409);
  });

  it('answers errors with a status, a stable code and the rule that failed', async () => {
    const invalid = await call('POST', '/v1/agents', { agent_name: 'Not Valid', owner: 'o' });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: 'invalid_name' });
    expect(invalid.body['detail']).toContain('must not contain whitespace');

    const unknownField = await call('POST', '/v1/agents', { agent_name: 'x.example', owner: 'o', colour: 'blue' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body['detail']).toContain('colour');

    expect((await call('POST', '/v1/agents', '{"agent_name":')).status).toBe(400);
    expect((await call('GET', '/v1/agents/nobody.example')).body).toMatchObject({ code: 'agent_not_found', detail: 'agent nobody.example not found' });
    expect((await call('GET', '/v1/agents/nobody.example')).status).toBe(404);

    await call('POST', '/v1/agents', { agent_name: 'dup.example', owner: 'o' });
    const taken = await call('POST', '/v1/agents', { agent_name: 'dup.example', owner: 'o' });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ code: 'name_taken' });

    await call('POST', '/v1/agents/dup.example/revoke', {});
    const rotate = await call('POST', '/v1/agents/dup.example/rotate', {});
    expect(rotate.status).toBe(409);
    expect(rotate.body).toMatchObject({ code: 'agent_revoked' });

    expect((await call('GET', '/v1/agents?status=sleeping')).status).toBe(400);
    const before = (await call('GET', '/v1/agents')).body['total'];
    await call('POST', '/v1/agents', { agent_name: '-bad.example', owner: 'o' });
    expect((await call('GET', '/v1/agents')).body['total']).toBe(before);
  });
});

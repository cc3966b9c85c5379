import { Code, createClient } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { DomainError } from '../../src/errors.ts';
import type { App } from '../../src/server/app.ts';
import { dialects } from '../support/databases.ts';
import { keyAndCsr, publicKeyOf } from '../support/keys.ts';
import { rpcError } from '../support/rpc.ts';
import { inProcessApp } from '../support/server.ts';

describe.each(dialects)('renewal on %s', (dialect) => {
  let app: App;
  let transport: Parameters<typeof createClient>[1];
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ app, transport, cleanup } = await inProcessApp(dialect));
  });
  afterAll(() => cleanup());

  const failure = async (call: Promise<unknown>) => {
    try {
      await call;
    } catch (error) {
      return error as DomainError;
    }
    throw new Error('expected a failure');
  };

  it('renews from a CSR while the presented certificate is current, and logs agent.renewed', async () => {
    const agentName = `renew.${dialect}.example`;
    const registered = await app.registry.register({ agentName, owner: 'o', capabilities: [] }, 'test');
    const { csrPem, publicKeyPem } = await keyAndCsr();
    const presentedFingerprint = registered.agent.certificate!.fingerprint;
    const renewed = await app.registry.renew({ agentName, csrPem, presentedFingerprint }, `agent:${agentName}`);
    expect(publicKeyOf(renewed.certPem)).toBe(publicKeyPem);
    expect(renewed.previousFingerprint).toBe(presentedFingerprint);
    expect(renewed.logIndex).toBe(registered.logIndex! + 1);
    const { events } = await app.registry.auditEvents({ agentName, eventType: 'agent.renewed' }, { limit: 10 });
    expect(events.map((e) => e.actor)).toEqual([`agent:${agentName}`]);

    // The certificate that authenticated the first renewal is superseded now: it cannot renew again.
    const stale = await failure(app.registry.renew({ agentName, csrPem, presentedFingerprint }, 'test'));
    expect(stale.code).toBe('certificate_superseded');
    const noCsr = await failure(app.registry.renew({ agentName, csrPem: '', presentedFingerprint: renewed.agent.certificate!.fingerprint }, 'test'));
    expect(noCsr.code).toBe('invalid_argument');
  });

  it('answers Unauthenticated to self-service calls that did not come with an agent certificate', async () => {
    const registry = createClient(RegistryService, transport);
    expect((await rpcError(registry.whoAmI({}))).code).toBe(Code.Unauthenticated);
    const { csrPem } = await keyAndCsr();
    expect((await rpcError(registry.renewCertificate({ csrPem }))).code).toBe(Code.Unauthenticated);
  });
});

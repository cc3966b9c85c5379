import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { VerifyService, type WatchRevocationsResponse } from '../../gen/atr/v1/verify_pb.js';
import type { RunningServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { rpcError } from '../support/rpc.ts';
import { runningServer } from '../support/server.ts';

/** The stream's next message, or a failure after `timeoutMs`. */
async function next(stream: AsyncIterator<WatchRevocationsResponse>, timeoutMs = 5_000): Promise<WatchRevocationsResponse> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([stream.next(), timeout]);
    if (result.done) throw new Error('the stream ended');
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(dialects)('WatchRevocations over a listener, %s', (dialect) => {
  let server: RunningServer;
  let cleanup: () => Promise<void>;
  let registry: ReturnType<typeof createClient<typeof RegistryService>>;
  let verify: ReturnType<typeof createClient<typeof VerifyService>>;
  beforeAll(async () => {
    ({ server, cleanup } = await runningServer(dialect));
    const transport = createConnectTransport({ baseUrl: server.url, httpVersion: '2' });
    registry = createClient(RegistryService, transport);
    verify = createClient(VerifyService, transport);
  });
  afterAll(() => cleanup());

  const registerAndRevoke = async (label: string, reason = 'keyCompromise') => {
    const agentName = `${label}.watch.${dialect}.example`;
    const registered = await registry.registerAgent({ agentName, owner: 'watch' });
    await registry.revokeAgent({ agentName, reason });
    return { agentName, fingerprint: registered.agent!.certFingerprint };
  };

  it('sends the catch-up, then live events, and unsubscribes when the client cancels', async () => {
    const earlier = await registerAndRevoke('earlier');
    const baseline = server.app.revocations.subscriberCount;
    const controller = new AbortController();
    const stream = verify.watchRevocations({ sinceSeconds: 60 }, { signal: controller.signal })[Symbol.asyncIterator]();

    const caughtUp = await next(stream);
    expect(caughtUp).toMatchObject({ agentName: earlier.agentName, certFingerprint: earlier.fingerprint, reason: 'keyCompromise' });
    expect(caughtUp.revokedAt).toBeDefined();
    expect(server.app.revocations.subscriberCount).toBe(baseline + 1);

    const rotatedName = `rotated.watch.${dialect}.example`;
    const rotated = await registry.registerAgent({ agentName: rotatedName, owner: 'watch' });
    await registry.rotateCertificate({ agentName: rotatedName });
    const live = await next(stream);
    expect(live).toMatchObject({ agentName: rotatedName, certFingerprint: rotated.agent!.certFingerprint, reason: 'superseded' });
    expect(live.certSerial).toBe(rotated.agent!.certSerial);

    controller.abort();
    await eventually(() => server.app.revocations.subscriberCount === baseline);
  });

  it('sends no catch-up without since_seconds, only what happens next', async () => {
    await registerAndRevoke('before');
    // Let the feed emit it before the stream subscribes, so only a catch-up could send it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const controller = new AbortController();
    const stream = verify.watchRevocations({}, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = next(stream);
    const later = await registerAndRevoke('after', 'cessationOfOperation');
    expect(await first).toMatchObject({ agentName: later.agentName, reason: 'cessationOfOperation' });
    controller.abort();
  });

  it('refuses a catch-up longer than a day', async () => {
    const error = await rpcError(
      (async () => {
        for await (const _ of verify.watchRevocations({ sinceSeconds: 86_401 })) break;
      })(),
    );
    expect(error.code).toBe(Code.InvalidArgument);
  });
});

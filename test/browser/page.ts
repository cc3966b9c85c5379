// The script a test page runs in Chromium: the SDK's browser entry, bundled by esbuild like a web app's would be.
import { ConnectError } from '@connectrpc/connect';
import { createBrowserRegistryClient } from '../../src/sdk/browser.ts';

interface Outcome {
  readonly agentName?: string;
  readonly code?: number;
  readonly message?: string;
  readonly errorCode?: string | null;
}

async function resolve(baseUrl: string, protocol: 'connect' | 'grpc-web', agentName: string): Promise<Outcome> {
  const client = createBrowserRegistryClient({ baseUrl, protocol });
  try {
    const answer = await client.resolve.resolveAgent({ agentName });
    return { agentName: answer.agentName };
  } catch (error) {
    const failure = ConnectError.from(error);
    return { code: failure.code, message: failure.rawMessage, errorCode: failure.metadata.get('atr-error-code') };
  }
}

(globalThis as unknown as { atrResolve: typeof resolve }).atrResolve = resolve;

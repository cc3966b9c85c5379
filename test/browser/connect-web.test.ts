// Connect-Web from a real browser page on another origin: the registry's CORS lets the allowed page call it over
// the Connect protocol and gRPC-Web and read the error code of a refusal; a page on another origin cannot.
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { runningServer } from '../support/server.ts';

type Outcome = { agentName?: string; code?: number; message?: string; errorCode?: string | null };

let browser: Browser;
let context: Awaited<ReturnType<typeof runningServer>>;
const pages: Server[] = [];

/** A page server on its own loopback port: the page's origin. */
async function servePage(script: string): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url === '/page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(script);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>atr test page</title><script src="/page.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  pages.push(server);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('page server has no port');
  return `http://127.0.0.1:${address.port}`;
}

async function resolveFrom(origin: string, protocol: 'connect' | 'grpc-web', agentName: string): Promise<Outcome> {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'atrResolve' in globalThis);
    return await page.evaluate(
      ([baseUrl, p, name]) => (globalThis as unknown as { atrResolve(b: string, p: string, n: string): Promise<Outcome> }).atrResolve(baseUrl, p, name),
      [context.server.url, protocol, agentName] as const,
    );
  } finally {
    await page.close();
  }
}

let allowed: string;
let other: string;

beforeAll(async () => {
  const bundle = await build({ entryPoints: [join(import.meta.dirname, 'page.ts')], bundle: true, write: false, platform: 'browser', format: 'iife' });
  const script = bundle.outputFiles[0]!.text;
  allowed = await servePage(script);
  other = await servePage(script);
  context = await runningServer('sqlite', { corsAllowedOrigins: [allowed], mtlsEnabled: false });
  const registry = createClient(RegistryService, createConnectTransport({ baseUrl: context.server.url, httpVersion: '1.1' }));
  await registry.registerAgent({ agentName: 'browser.agents.example', owner: 'web', capabilities: ['x'] });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const page of pages) page.close();
  await context?.cleanup();
});

describe('Connect-Web from another origin', () => {
  for (const protocol of ['connect', 'grpc-web'] as const) {
    it(`an allowed page resolves an agent over ${protocol} and reads a refusal's atr-error-code`, async () => {
      expect(await resolveFrom(allowed, protocol, 'browser.agents.example')).toEqual({ agentName: 'browser.agents.example' });
      const refused = await resolveFrom(allowed, protocol, 'nobody.agents.example');
      expect(refused).toMatchObject({ code: Code.NotFound, errorCode: 'agent_not_found' });
      expect(refused.message).toContain('nobody.agents.example');
    });
  }

  it('a page on an origin that is not allowed cannot read any answer', async () => {
    const refused = await resolveFrom(other, 'connect', 'browser.agents.example');
    expect(refused.agentName).toBeUndefined();
    expect(refused.code).not.toBe(Code.NotFound);
    expect(refused.message).toMatch(/fetch/i);
  });
});

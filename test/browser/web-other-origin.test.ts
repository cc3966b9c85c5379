// The web UI served from another origin than the registry's (a CDN, an app's own host): built with the registry's
// URL, it calls the registry across origins, which CORS_ALLOWED_ORIGINS must allow; keys still work, and a UI on an
// origin the registry does not list gets no answer and says so.
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { CONTENT_SECURITY_POLICY } from '../../src/server/web-ui.ts';
import { buildInto, launchChromium, webUiServer } from '../support/web-ui.ts';

let browser: Browser;
let registry: Awaited<ReturnType<typeof webUiServer>>;
const hosts: Server[] = [];
let allowed: { origin: string; serve(dir: string): void };
let other: { origin: string; serve(dir: string): void };

/** A static file host on its own loopback port, sending the UI's CSP widened to the registry's origin. */
async function staticHost(): Promise<{ origin: string; serve(dir: string): void }> {
  let root = '';
  let csp = '';
  const server = createServer((req, res) => {
    const path = req.url === '/' ? '/index.html' : (req.url ?? '/');
    try {
      const body = readFileSync(join(root, path.replace(/\.\./g, '')));
      res.writeHead(200, { 'content-type': extname(path) === '.js' ? 'text/javascript' : extname(path) === '.css' ? 'text/css' : 'text/html', 'content-security-policy': csp });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hosts.push(server);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    serve(dir: string) {
      root = dir;
      csp = CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ${registry.server.url}`);
    },
  };
}

beforeAll(async () => {
  allowed = await staticHost();
  other = await staticHost();
  registry = await webUiServer('sqlite', { apiKeyEnabled: true, corsAllowedOrigins: [allowed.origin] });
  const ui = await buildInto({ apiBaseUrl: registry.server.url });
  allowed.serve(ui);
  other.serve(ui);
  const admin = createRegistryClient({ baseUrl: registry.server.url, apiKey: readFileSync(registry.environment.config.adminKeyFile, 'utf8').trim() });
  await admin.registry.registerAgent({ agentName: 'cross.agents.example', owner: 'team-x' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const host of hosts) host.close();
  await registry?.cleanup();
});

describe('the UI on another origin', () => {
  it('signs in and lists agents across origins when the registry allows the UI’s origin', async () => {
    const page = await browser.newPage();
    await page.goto(`${allowed.origin}/#/access`);
    await page.getByText('Not signed in').waitFor();
    await page.getByLabel('API key', { exact: true }).fill(readFileSync(registry.environment.config.adminKeyFile, 'utf8').trim());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(/Signed in as key:[0-9a-f]{16} \(admin\)/).waitFor();
    await page.goto(`${allowed.origin}/#/agents`);
    await page.getByRole('link', { name: 'cross.agents.example' }).waitFor();
    await page.close();
  });

  it('shows an error, not a blank page, on an origin the registry does not allow', async () => {
    const page = await browser.newPage();
    await page.goto(`${other.origin}/#/access`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/fetch/i);
    await page.close();
  });
});

// The agents list and an agent's page in Chromium against a real registry: filters and page tokens in the URL, the
// certificate read in the browser agreeing with the API, the log history, rotate (key made in the page, or by the
// server) and revoke from the UI, and the actions offered only to a key that may use them.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentStatus } from '../../gen/atr/v1/agent_pb.js';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { VIEWPORTS, axeViolations, launchChromium, newContext, screenshot, webUiServer } from '../support/web-ui.ts';

let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
});

/** A page of the UI, signed in with `apiKey` when given (the sign-in page keeps it in sessionStorage). */
async function openPage(baseUrl: string, route: string, { apiKey, viewport = VIEWPORTS.desktop }: { apiKey?: string; viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await newContext(browser, viewport);
  contexts.push(context);
  if (apiKey !== undefined) await context.addInitScript({ content: `sessionStorage.setItem('atr.apiKey', ${JSON.stringify(apiKey)})` });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/${route}`);
  return page;
}

/** Waits for the list's table to show this page and count, then reads its rows. */
async function listed(page: Page, caption: string): Promise<{ name: string; owner: string; status: string; capabilities: string; expires: string }[]> {
  await page.locator('caption', { hasText: caption }).waitFor();
  const rows = await page.locator('tbody tr').all();
  return Promise.all(
    rows.map(async (row) => {
      const [name = '', owner = '', status = '', capabilities = '', expires = ''] = await row.locator('td').allTextContents();
      return { name, owner, status, capabilities, expires };
    }),
  );
}

/** The value next to a term in the page's first definition list that has it. */
function fact(page: Page, term: string): Promise<string> {
  return page.locator('dl.facts dt', { hasText: new RegExp(`^${term}$`) }).first().locator('xpath=following-sibling::dd[1]').innerText();
}

async function download(page: Page, link: string): Promise<string> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: link }).click()]);
  return readFileSync((await file.path())!, 'utf8');
}

const spki = (pem: string) => createPublicKey(pem).export({ format: 'der', type: 'spki' }).toString('base64');

describe('the agents list and an agent page, API keys off', () => {
  let context: Awaited<ReturnType<typeof webUiServer>>;
  let api: RegistryClient;
  const fleet = Array.from({ length: 25 }, (_, i) => ({
    agentName: `agent-${String(i).padStart(2, '0')}.fleet.example`,
    owner: i % 2 === 0 ? 'alpha' : 'beta',
    capabilities: i % 5 === 0 ? ['search', 'translate'] : ['chat'],
  }));
  const revoked = fleet.slice(1, 4).map((agent) => agent.agentName);

  beforeAll(async () => {
    context = await webUiServer('sqlite');
    api = createRegistryClient({ baseUrl: context.server.url });
    for (const agent of fleet) await api.registry.registerAgent(agent);
    for (const agentName of revoked) await api.registry.revokeAgent({ agentName, reason: 'cessationOfOperation' });
    await api.registry.registerAgent({ agentName: 'rotate.ui.example', owner: 'ops', capabilities: ['chat'] });
    await api.registry.registerAgent({ agentName: 'revoke.ui.example', owner: 'ops', capabilities: ['chat'] });
  });

  afterAll(async () => {
    await context?.cleanup();
  });

  it('lists the agents a page at a time with page tokens, forward and back', async () => {
    const page = await openPage(context.server.url, '#/agents');
    const first = await listed(page, 'Page 1 · 27 agents match');
    expect(first).toHaveLength(20);
    expect(first[0]).toMatchObject({ name: 'agent-00.fleet.example', owner: 'alpha', status: 'active', capabilities: 'search, translate' });
    expect(first[1]).toMatchObject({ status: 'revoked', capabilities: 'chat' });
    expect(first[0]!.expires).toMatch(/^in \d+ d( \d+ h)?$/);
    expect(await page.getByRole('link', { name: /Previous/ }).count()).toBe(0);

    await page.getByRole('link', { name: /Next/ }).click();
    const second = await listed(page, 'Page 2 · 27 agents match');
    expect(second).toHaveLength(7);
    expect(new Set([...first, ...second].map((row) => row.name)).size).toBe(27);
    expect(page.url()).toMatch(/pages=/);
    expect(await page.getByRole('link', { name: /Next/ }).count()).toBe(0);

    await page.getByRole('link', { name: /Previous/ }).click();
    expect(await listed(page, 'Page 1 · 27 agents match')).toEqual(first);

    await page.getByLabel('Per page').selectOption('10');
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(await listed(page, 'Page 1 · 27 agents match')).toEqual(first.slice(0, 10));
  });

  it('counts down to each certificate expiry while the list is shown, and says how long ago it expired', async () => {
    const open = await newContext(browser);
    contexts.push(open);
    const page = await open.newPage();
    await page.clock.install();
    await page.goto(`${context.server.url}/#/agents`);
    const [first] = await listed(page, 'Page 1');
    expect(first!.expires).toMatch(/^in \d+ d( \d+ h)?$/);
    await page.clock.fastForward(100 * 86_400_000);
    await page.locator('tbody tr').first().locator('time', { hasText: /^expired \d+ d( \d+ h)? ago$/ }).waitFor();
  });

  it('narrows the table by owner, status and capability, and keeps the filters in a URL that reloads', async () => {
    const page = await openPage(context.server.url, '#/agents');
    await listed(page, 'Page 1');
    await page.getByLabel('Owner').fill('beta');
    await page.getByRole('button', { name: 'Filter' }).click();
    const beta = await listed(page, '12 agents match');
    expect(beta.every((row) => row.owner === 'beta')).toBe(true);
    expect(page.url()).toContain('owner=beta');

    await page.getByLabel('Status').selectOption('revoked');
    await page.getByRole('button', { name: 'Filter' }).click();
    const revokedOfBeta = ['agent-01.fleet.example', 'agent-03.fleet.example'];
    expect((await listed(page, '2 agents match')).map((row) => row.name)).toEqual(revokedOfBeta);
    await page.reload();
    expect((await listed(page, '2 agents match')).map((row) => row.name)).toEqual(revokedOfBeta);
    expect(await page.getByLabel('Owner').inputValue()).toBe('beta');
    expect(await page.getByLabel('Status').inputValue()).toBe('revoked');

    await page.goto(`${context.server.url}/#/agents?status=revoked`);
    expect((await listed(page, '3 agents match')).map((row) => row.name)).toEqual(revoked);
    await page.goto(`${context.server.url}/#/agents?capability=search`);
    expect((await listed(page, '5 agents match')).map((row) => row.name)).toEqual(['agent-00.fleet.example', 'agent-05.fleet.example', 'agent-10.fleet.example', 'agent-15.fleet.example', 'agent-20.fleet.example']);

    await page.goto(`${context.server.url}/#/agents?capability=search&owner=beta&status=revoked`);
    await page.locator('.state.empty', { hasText: 'No agents match' }).waitFor();
  });

  for (const viewport of [VIEWPORTS.phone, VIEWPORTS.desktop]) {
    it(`shows the list and an agent without axe violations at ${viewport.width} px`, async () => {
      const list = await openPage(context.server.url, '#/agents', { viewport });
      await listed(list, 'Page 1');
      await screenshot(list, 'agents');
      expect(await axeViolations(list)).toEqual([]);
      const detail = await openPage(context.server.url, '#/agents/agent-00.fleet.example', { viewport });
      await detail.locator('tbody tr').first().waitFor();
      await screenshot(detail, 'agent');
      expect(await axeViolations(detail)).toEqual([]);
    });
  }

  it('shows the certificate as the browser reads it, matching the API, and the history from the log', async () => {
    const agentName = 'agent-02.fleet.example';
    const page = await openPage(context.server.url, '#/agents?owner=alpha');
    await listed(page, 'Page 1');
    await page.getByRole('link', { name: agentName }).click();
    await page.getByRole('heading', { name: agentName, level: 1 }).waitFor();
    const { agent } = await api.registry.getAgent({ agentName });
    const certificate = await api.registry.getAgentCertificate({ agentName });

    await page.getByRole('heading', { name: 'Certificate' }).waitFor();
    expect(await fact(page, 'Serial')).toBe(certificate.certSerial);
    expect(await fact(page, 'SHA-256 fingerprint')).toBe(certificate.certFingerprint);
    expect(await fact(page, 'DNS names')).toBe(agentName);
    expect(await fact(page, 'URIs')).toBe(agent!.spiffeId);
    expect(await fact(page, 'Owner')).toBe('alpha');
    expect(await fact(page, 'Status')).toBe('revoked cessationOfOperation');
    expect(await page.locator('pre').textContent()).toBe(certificate.certPem);
    expect(await page.getByRole('heading', { level: 3 }).count()).toBe(2);

    const { entries } = await api.log.listEntries({ agentName });
    const registered = entries.find((entry) => entry.event?.eventType === 'agent.registered')!;
    const row = page.locator('tbody tr', { hasText: 'agent.registered' });
    await row.waitFor();
    expect(await row.getByRole('link').getAttribute('href')).toBe(`#/log/${registered.index}`);
    expect(await page.locator('tbody tr', { hasText: 'agent.revoked' }).innerText()).toContain('cessationOfOperation');
  });

  it('rotates with a key made in the page, offering that key once, and then with a key the server makes', async () => {
    const agentName = 'rotate.ui.example';
    const page = await openPage(context.server.url, `#/agents/${agentName}`);
    const sent: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/RotateCertificate')) sent.push(request.postData() ?? '');
    });
    const versions: number[] = [];
    for (const serverKey of [false, true]) {
      const before = (await api.registry.getAgent({ agentName })).agent!;
      versions.push(before.version);
      await page.getByRole('button', { name: 'Rotate certificate' }).click();
      const dialog = page.getByRole('dialog');
      if (serverKey) await dialog.getByLabel('Let the server make the key instead').check();
      await dialog.getByRole('button', { name: 'Rotate', exact: true }).click();
      const privateKeyPem = await download(page, 'Download the new private key (PEM)');

      const after = (await api.registry.getAgent({ agentName })).agent!;
      expect(after.certFingerprint).not.toBe(before.certFingerprint);
      expect(after.version).toBe(before.version + 1);
      const { certPem } = await api.registry.getAgentCertificate({ agentName });
      expect(spki(privateKeyPem)).toBe(spki(certPem));
      await page.locator('dd', { hasText: after.certFingerprint }).waitFor();
      expect(await page.locator('.secret').innerText()).toContain('shown only now');
    }
    // The page's own key never left it; the server's key was asked for by sending no CSR.
    expect(sent.map((body) => JSON.parse(body))).toEqual([
      { agentName, csrPem: expect.stringContaining('CERTIFICATE REQUEST'), expectedVersion: versions[0] },
      { agentName, expectedVersion: versions[1] },
    ]);
    expect(sent[0]).not.toContain('PRIVATE KEY');
  });

  it('revokes with the reason chosen in the dialog', async () => {
    const agentName = 'revoke.ui.example';
    const page = await openPage(context.server.url, `#/agents/${agentName}`);
    await page.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').selectOption('keyCompromise');
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'agent-revoke-dialog');
    await dialog.getByRole('button', { name: 'Revoke' }).click();

    await page.getByText('This agent is revoked').waitFor();
    const { agent } = await api.registry.getAgent({ agentName });
    expect(agent).toMatchObject({ status: AgentStatus.REVOKED, revocationReason: 'keyCompromise' });
    expect(await fact(page, 'Status')).toBe('revoked keyCompromise');
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
  });
});

describe('with API keys on and PUBLIC_READS=false', () => {
  let context: Awaited<ReturnType<typeof webUiServer>>;
  const keys: Record<'alpha' | 'reader', string> = { alpha: '', reader: '' };

  beforeAll(async () => {
    context = await webUiServer('sqlite', { apiKeyEnabled: true, publicReads: false });
    const admin = createRegistryClient({ baseUrl: context.server.url, apiKey: readFileSync(context.environment.config.adminKeyFile, 'utf8').trim() });
    keys.alpha = (await admin.keys.createApiKey({ role: ApiKeyRole.OWNER, owner: 'alpha' })).secret;
    keys.reader = (await admin.keys.createApiKey({ role: ApiKeyRole.READER })).secret;
    await admin.registry.registerAgent({ agentName: 'mine.keys.example', owner: 'alpha' });
    await admin.registry.registerAgent({ agentName: 'theirs.keys.example', owner: 'beta' });
  });

  afterAll(async () => {
    await context?.cleanup();
  });

  it("offers rotate and revoke to an owner key only on its own owner's agents, and says why elsewhere", async () => {
    const theirs = await openPage(context.server.url, '#/agents/theirs.keys.example', { apiKey: keys.alpha });
    await theirs.getByText('This key may change only agents of owner alpha.').waitFor();
    expect(await theirs.getByRole('button', { name: /Rotate|Revoke/ }).count()).toBe(0);

    const mine = await openPage(context.server.url, '#/agents/mine.keys.example', { apiKey: keys.alpha });
    await mine.getByRole('button', { name: 'Rotate certificate' }).waitFor();
    expect(await mine.getByRole('button', { name: 'Revoke' }).count()).toBe(1);

    const reader = await openPage(context.server.url, '#/agents/mine.keys.example', { apiKey: keys.reader });
    await reader.getByText('with a key that may change agents').waitFor();
    expect(await reader.getByRole('button', { name: /Rotate|Revoke/ }).count()).toBe(0);
  });

  it('shows an anonymous visitor the Unauthenticated error, not a blank page', async () => {
    const page = await openPage(context.server.url, '#/agents');
    const error = page.getByRole('alert');
    await error.waitFor();
    expect(await error.innerText()).toContain('Unauthenticated');
    expect(await page.getByRole('heading', { name: 'Agents' }).count()).toBe(1);
  });
});

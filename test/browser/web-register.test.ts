// Registering from the web UI in Chromium: the key pair is made in the page, only a CSR leaves it, the key the user
// downloads is the certificate's and signs tokens the registry accepts; the server's name rules run as the user types.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { VerifyReason, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { signToken } from '../../src/sdk/token.ts';
import { VIEWPORTS, axeViolations, launchChromium, newContext, screenshot, webUiServer } from '../support/web-ui.ts';

let browser: Browser;
let context: Awaited<ReturnType<typeof webUiServer>>;

beforeAll(async () => {
  context = await webUiServer('sqlite');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await context?.cleanup();
});

const api = () => {
  const transport = createConnectTransport({ baseUrl: context.server.url, httpVersion: '1.1' });
  return { registry: createClient(RegistryService, transport), verify: createClient(VerifyService, transport) };
};

interface SentRequest {
  readonly url: string;
  readonly body: string;
}

/** The register page, with every request the page makes recorded (URL and body). */
async function registerPage(viewport = VIEWPORTS.desktop): Promise<{ page: Page; sent: SentRequest[] }> {
  const page = await (await newContext(browser, viewport)).newPage();
  const sent: SentRequest[] = [];
  page.on('request', (request) => sent.push({ url: request.url(), body: request.postData() ?? '' }));
  await page.goto(`${context.server.url}/#/register`);
  await page.getByRole('heading', { name: 'Register an agent' }).waitFor();
  return { page, sent };
}

async function fill(page: Page, fields: { name: string; owner: string; capabilities?: string }): Promise<void> {
  await page.getByLabel('Agent name').fill(fields.name);
  await page.getByLabel('Owner').fill(fields.owner);
  if (fields.capabilities) await page.getByLabel('Capabilities').fill(fields.capabilities);
}

async function download(page: Page, link: string): Promise<string> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: link }).click()]);
  return readFileSync((await file.path())!, 'utf8');
}

/** The base64 body of a PEM, the part that would show if the key were sent in any encoding of the PEM. */
const pemBody = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

describe('registering in the browser', () => {
  it('makes the key in the page, sends only a CSR, and the downloaded key signs tokens the registry accepts', async () => {
    const { page, sent } = await registerPage();
    await fill(page, { name: 'browser-made.agents.example', owner: 'web-team', capabilities: 'invoice.read, invoice.write' });
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('Registered browser-made.agents.example').waitFor();
    const keyPem = await download(page, 'Download the private key');
    const certPem = await download(page, 'Download the certificate');

    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const certificate = new X509Certificate(certPem);
    expect(createPublicKey(key).export({ format: 'der', type: 'spki' })).toEqual(certificate.publicKey.export({ format: 'der', type: 'spki' }));

    const registration = sent.find((request) => request.url.endsWith('/atr.v1.RegistryService/RegisterAgent'));
    expect(JSON.parse(registration!.body)).toMatchObject({ agentName: 'browser-made.agents.example', owner: 'web-team', capabilities: ['invoice.read', 'invoice.write'] });
    expect(JSON.parse(registration!.body).csrPem).toContain('BEGIN CERTIFICATE REQUEST');
    const secret = pemBody(keyPem);
    for (const request of sent) {
      expect(request.url).not.toContain(secret.slice(0, 40));
      expect(request.body.replace(/\\n/g, '')).not.toContain(secret.slice(0, 40));
    }

    const { agent } = await api().registry.getAgent({ agentName: 'browser-made.agents.example' });
    expect(agent?.certFingerprint).toBe(certificate.fingerprint256.replaceAll(':', '').toLowerCase());
    const token = await signToken({ agentName: 'browser-made.agents.example', keyPem, certPem, audience: 'billing' });
    const verdict = await api().verify.verifyToken({ token, audience: 'billing' });
    expect(verdict).toMatchObject({ verified: true, reason: VerifyReason.VERIFIED, agentName: 'browser-made.agents.example' });
    await screenshot(page, 'register-done');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('lets the server make the key when asked, and offers that key once', async () => {
    const { page, sent } = await registerPage();
    await fill(page, { name: 'server-made.agents.example', owner: 'web-team' });
    await page.getByLabel('Let the server make it and return it once').check();
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('Registered server-made.agents.example').waitFor();
    const registration = sent.find((request) => request.url.endsWith('/RegisterAgent'));
    expect(JSON.parse(registration!.body).csrPem ?? '').toBe('');
    const keyPem = await download(page, 'Download the private key');
    const certPem = await download(page, 'Download the certificate');
    expect(createPublicKey(keyPem).export({ format: 'der', type: 'spki' })).toEqual(new X509Certificate(certPem).publicKey.export({ format: 'der', type: 'spki' }));
  });

  it('checks the name by the server’s rules as it is typed and sends nothing while a field is wrong', async () => {
    const { page, sent } = await registerPage(VIEWPORTS.phone);
    await screenshot(page, 'register');
    expect(await axeViolations(page)).toEqual([]);
    await fill(page, { name: 'Billing_Agent.example', owner: 'web-team' });
    await expect.poll(() => page.getByLabel('Agent name').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.field-error').first().textContent()).toBe('agent_name: must be lowercase');
    await page.getByLabel('Agent name').fill('billing_agent.example');
    expect(await page.locator('.field-error').first().textContent()).toContain('may contain only a-z, 0-9 and hyphens');
    await page.getByLabel('Agent name').fill('xn--80ak6aa92e.example');
    await expect.poll(() => page.getByLabel('Agent name').getAttribute('aria-invalid')).toBe('false');
    await page.getByLabel('Agent name').fill('-lead.example');
    await page.getByLabel('Capabilities').fill('ok, bad capability');
    await page.getByRole('button', { name: 'Register' }).click();
    expect(await page.locator('.field-error').nth(2).textContent()).toContain('must start with a letter or digit');
    // Focus goes to the first field to fix, and nothing was sent.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } } }).document.activeElement.getAttribute('name'))).toBe('agent_name');
    expect(sent.filter((request) => request.url.includes('RegisterAgent'))).toEqual([]);
    await screenshot(page, 'register-invalid');
  });

  it('works from the keyboard alone: focus starts at the heading and the fields follow in order', async () => {
    const { page } = await registerPage();
    // The router moves focus to the new page's heading; the form's fields come next in tab order.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { tagName: string } } }).document.activeElement.tagName)).toBe('H1');
    await page.keyboard.press('Tab');
    await page.keyboard.type('keyboard.agents.example');
    await page.keyboard.press('Tab');
    await page.keyboard.type('web-team');
    await page.keyboard.press('Tab');
    await page.keyboard.type('kb');
    await page.keyboard.press('Enter');
    await page.getByText('Registered keyboard.agents.example').waitFor();
    expect((await api().registry.getAgent({ agentName: 'keyboard.agents.example' })).agent).toMatchObject({ owner: 'web-team', capabilities: ['kb'] });
  });

  it('shows the server’s refusal with its code when the name is taken', async () => {
    await api().registry.registerAgent({ agentName: 'taken.agents.example', owner: 'someone' });
    const { page } = await registerPage();
    await fill(page, { name: 'taken.agents.example', owner: 'web-team' });
    await page.getByRole('button', { name: 'Register' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/AlreadyExists.*name_taken.*taken\.agents\.example/);
  });
});

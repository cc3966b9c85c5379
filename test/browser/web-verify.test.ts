// The verify page in Chromium against a real registry: a current certificate verifies; a superseded one, a revoked
// agent's and one from a CA made with the openssl command line fail at the check the server stops at; a certificate
// arrives by paste, by the file chooser or dropped on the text box.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/sdk/client.ts';
import { VIEWPORTS, axeViolations, launchChromium, newContext, screenshot, webUiServer } from '../support/web-ui.ts';

let browser: Browser;
let context: Awaited<ReturnType<typeof webUiServer>>;
const contexts: BrowserContext[] = [];
const pems = { current: '', superseded: '', revoked: '', foreign: '' };

/** A self-signed CA and a certificate it issues naming a registered agent, by the openssl command line. */
function foreignCertificate(claimedName: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'atr-foreign-ca-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=Foreign CA');
    openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${claimedName}`);
    writeFileSync(join(dir, 'san.ext'), `subjectAltName=DNS:${claimedName}\n`);
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', 'san.ext', '-out', 'leaf.pem');
    return readFileSync(join(dir, 'leaf.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  context = await webUiServer('sqlite');
  browser = await launchChromium();
  const { registry } = createRegistryClient({ baseUrl: context.server.url });
  pems.current = (await registry.registerAgent({ agentName: 'current.verify.example', owner: 'verify' })).certPem;
  pems.superseded = (await registry.registerAgent({ agentName: 'rotated.verify.example', owner: 'verify' })).certPem;
  await registry.rotateCertificate({ agentName: 'rotated.verify.example' });
  pems.revoked = (await registry.registerAgent({ agentName: 'revoked.verify.example', owner: 'verify' })).certPem;
  await registry.revokeAgent({ agentName: 'revoked.verify.example', reason: 'keyCompromise' });
  pems.foreign = foreignCertificate('current.verify.example');
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((open) => open.close()));
});

afterAll(async () => {
  await browser?.close();
  await context?.cleanup();
});

async function verifyPage(viewport: { width: number; height: number } = VIEWPORTS.desktop): Promise<Page> {
  const open = await newContext(browser, viewport);
  contexts.push(open);
  const page = await open.newPage();
  await page.goto(`${context.server.url}/#/verify`);
  await page.getByRole('heading', { name: 'Verify a certificate' }).waitFor();
  return page;
}

/** The verdict once it shows: its class, its text, and each check's state in order. */
async function verdict(page: Page): Promise<{ result: string; text: string; checks: string[]; facts: string }> {
  const result = page.locator('.result');
  await result.waitFor();
  return {
    result: (await result.getAttribute('class')) ?? '',
    text: await result.innerText(),
    checks: await page.locator('ol.checks li').evaluateAll((items) => items.map((item) => `${item.className} ${item.textContent}`)),
    facts: await page.locator('dl.facts').innerText(),
  };
}

/** The seven checks in the server's order: those before `failed` passed, it failed, the rest were not made. */
function checksFailingAt(failed: number | undefined): string[] {
  const labels = [
    'Parsed as an X.509 certificate',
    "Issued by this registry's CA",
    'Within its validity period',
    'Held by an agent the registry knows',
    'Agent not revoked',
    "The agent's current certificate (not superseded)",
    'Agent active (not expired)',
  ];
  return labels.map((label, index) => (failed === undefined || index < failed ? `ok ${label}: passed` : index === failed ? `bad ${label}: failed` : `skipped ${label}: not checked`));
}

describe('the verify page', () => {
  const cases = [
    { pem: 'current', verdict: 'Verified', reason: 'Verified: certificate is the current one of active agent current.verify.example', failed: undefined, agent: 'current.verify.example' },
    { pem: 'superseded', verdict: 'Not verified', reason: 'Superseded: certificate was superseded', failed: 5, agent: 'rotated.verify.example' },
    { pem: 'revoked', verdict: 'Not verified', reason: 'Revoked: agent revoked.verify.example was revoked (keyCompromise)', failed: 4, agent: 'revoked.verify.example' },
    { pem: 'foreign', verdict: 'Not verified', reason: 'Untrusted issuer: not issued by this registry', failed: 1, agent: 'current.verify.example' },
  ] as const;

  for (const expected of cases) {
    const outcome = expected.failed === undefined ? 'passing every check' : `failing check ${expected.failed + 1}`;
    it(`shows a ${expected.pem} certificate as ${expected.verdict}, ${outcome}`, async () => {
      const page = await verifyPage();
      await page.getByLabel('Certificate (PEM)').fill(pems[expected.pem]);
      await page.getByRole('button', { name: 'Verify' }).click();
      const shown = await verdict(page);
      expect(shown.result).toBe(expected.failed === undefined ? 'result ok' : 'result bad');
      expect(shown.text).toContain(expected.verdict);
      expect(shown.text).toContain(expected.reason);
      expect(shown.checks).toEqual(checksFailingAt(expected.failed));
      expect(shown.facts).toContain(expected.agent);
      expect(await axeViolations(page)).toEqual([]);
      await screenshot(page, `verify-${expected.pem}`);
    });
  }

  it('verifies a file chosen with the file input, and one dropped on the text box', async () => {
    const page = await verifyPage(VIEWPORTS.phone);
    await page.getByLabel('Certificate file').setInputFiles({ name: 'current.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(pems.current) });
    expect((await verdict(page)).result).toBe('result ok');
    expect(await page.getByLabel('Certificate (PEM)').inputValue()).toBe(pems.current);
    await screenshot(page, 'verify-current');
    expect(await axeViolations(page)).toEqual([]);

    const dropped = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([${JSON.stringify(pems.revoked)}], 'revoked.pem', { type: 'application/x-pem-file' }));
      return transfer;
    })()`);
    await page.getByLabel('Certificate (PEM)').dispatchEvent('drop', { dataTransfer: dropped });
    await page.locator('.result.bad').waitFor();
    expect((await verdict(page)).checks).toEqual(checksFailingAt(4));
  });

  it('shows the error the registry gives for text that is not a certificate', async () => {
    const page = await verifyPage();
    await page.getByLabel('Certificate (PEM)').fill('not a certificate');
    await page.getByRole('button', { name: 'Verify' }).click();
    const error = page.getByRole('alert');
    await error.waitFor();
    expect(await error.innerText()).toContain('InvalidArgument');
  });
});

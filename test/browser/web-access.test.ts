// Signing in to the web UI with an API key in Chromium: the key stays in this tab's sessionStorage only, a refused
// key is not kept, the page shows what the key may do, and an admin manages API keys (the secret shown once).
import { readFileSync } from 'node:fs';
import { Code } from '@connectrpc/connect';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRole } from '../../gen/atr/v1/api_key_pb.js';
import { type RegistryClient, createRegistryClient } from '../../src/sdk/client.ts';
import { rpcError } from '../support/rpc.ts';
import { VIEWPORTS, axeViolations, launchChromium, newContext, screenshot, webUiServer } from '../support/web-ui.ts';

let browser: Browser;
let context: Awaited<ReturnType<typeof webUiServer>>;
let adminKey: string;
let admin: RegistryClient;

beforeAll(async () => {
  context = await webUiServer('sqlite', { apiKeyEnabled: true });
  adminKey = readFileSync(context.environment.config.adminKeyFile, 'utf8').trim();
  admin = createRegistryClient({ baseUrl: context.server.url, apiKey: adminKey });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await context?.cleanup();
});

async function accessPage(viewport = VIEWPORTS.desktop): Promise<Page> {
  const page = await (await newContext(browser, viewport)).newPage();
  await page.goto(`${context.server.url}/#/access`);
  await page.getByRole('heading', { name: 'Access' }).waitFor();
  return page;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const storage = (page: Page) =>
  page.evaluate(() => {
    const scope = globalThis as unknown as { sessionStorage: Storage; localStorage: Storage; document: { cookie: string } };
    return { session: scope.sessionStorage.getItem('atr.apiKey'), local: scope.localStorage.length, cookie: scope.document.cookie };
  });
type Storage = { getItem(name: string): string | null; length: number };

describe('signing in', () => {
  it('starts anonymous, showing only the public reads', async () => {
    const page = await accessPage(VIEWPORTS.phone);
    await page.getByText('Not signed in').waitFor();
    expect(await page.locator('[data-permission]').evaluateAll((items) => items.map((item) => item.getAttribute('data-permission')))).toEqual(['public_read']);
    await screenshot(page, 'access');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('refuses a wrong key with the server’s code and does not keep it', async () => {
    const page = await accessPage();
    await signIn(page, `atr_${'1'.repeat(16)}_${'2'.repeat(64)}`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/Unauthenticated/);
    expect((await storage(page)).session).toBeNull();
    await page.getByText('Not signed in').waitFor();
  });

  it('keeps a good key in this tab’s sessionStorage only and shows what it may do', async () => {
    const { secret, key } = await admin.keys.createApiKey({ role: ApiKeyRole.OWNER, owner: 'team-a', description: 'web' });
    const page = await accessPage();
    await signIn(page, secret);
    await page.getByText(`Signed in as key:${key!.keyId} (owner)`).waitFor();
    expect(await page.locator('[data-permission]').evaluateAll((items) => items.map((item) => item.getAttribute('data-permission')))).toEqual(['public_read', 'read', 'write_own']);
    expect(await storage(page)).toEqual({ session: secret, local: 0, cookie: '' });
    // Another tab (another browsing context) is not signed in.
    const other = await accessPage();
    await other.getByText('Not signed in').waitFor();
    // The owner key registers for its own owner only: the form says so.
    await page.getByRole('link', { name: 'Register' }).click();
    await page.getByRole('heading', { name: 'Register an agent' }).waitFor();
    expect(await page.getByLabel('Owner').inputValue()).toBe('team-a');
    expect(await page.getByLabel('Owner').getAttribute('readonly')).toBe('');
    await page.getByLabel('Agent name').fill('signed-in.agents.example');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByText('Registered signed-in.agents.example').waitFor();
    expect((await admin.registry.getAgent({ agentName: 'signed-in.agents.example' })).agent?.owner).toBe('team-a');
    // Signing out forgets the key.
    await page.getByRole('link', { name: 'Access' }).first().click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('Not signed in').waitFor();
    expect((await storage(page)).session).toBeNull();
  });
});

describe('managing API keys as an admin', () => {
  it('lists keys, creates one whose secret is shown once and works, and revokes it after a confirmation', async () => {
    const page = await accessPage();
    await signIn(page, adminKey);
    await page.getByRole('heading', { name: 'API keys' }).waitFor();
    await page.getByLabel('Role').selectOption({ label: 'reader' });
    await page.getByLabel('Description').fill('made in the UI');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await page.getByLabel('The new key').inputValue();
    expect(secret).toMatch(/^atr_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const keyId = secret.split('_')[1]!;
    const reader = createRegistryClient({ baseUrl: context.server.url, apiKey: secret });
    expect((await reader.keys.getCallerAccess({})).permissions).toEqual(['public_read', 'read']);
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('made in the UI');
    await screenshot(page, 'access-admin');
    expect(await axeViolations(page)).toEqual([]);

    await row.getByRole('button', { name: `Revoke key ${keyId}` }).click();
    await page.getByRole('dialog').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => row.count()).toBe(0);
    expect((await rpcError(reader.keys.getCallerAccess({}))).code).toBe(Code.Unauthenticated);
    await page.getByLabel('Show revoked keys').check();
    await page.locator(`tr[data-key-id="${keyId}"] .badge.revoked`).waitFor();
  });

  it('a revoke dialog dismissed with Escape revokes nothing', async () => {
    const { key } = await admin.keys.createApiKey({ role: ApiKeyRole.READER, owner: '', description: 'kept' });
    const page = await accessPage(VIEWPORTS.phone);
    await signIn(page, adminKey);
    const row = page.locator(`tr[data-key-id="${key!.keyId}"]`);
    await row.getByRole('button', { name: `Revoke key ${key!.keyId}` }).click();
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect((await admin.keys.listApiKeys({})).apiKeys.find((k) => k.keyId === key!.keyId)?.revokedAt).toBeUndefined();
    await screenshot(page, 'access-admin');
  });
});

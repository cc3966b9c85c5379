// The transparency log page in Chromium: the checkpoint's signature, consistency with an earlier checkpoint, and an
// entry's leaf hash and inclusion proof are all checked in the browser, so a proxy that changes one hash or one
// signature character on the way turns the verdict red.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer, request as forward } from 'node:http';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryService } from '../../gen/atr/v1/registry_pb.js';
import { TransparencyLogService } from '../../gen/atr/v1/transparency_log_pb.js';
import { createNoteSigner } from '../../src/tlog/note.ts';
import { VIEWPORTS, axeViolations, launchChromium, newContext, screenshot, webUiServer } from '../support/web-ui.ts';

let browser: Browser;
let context: Awaited<ReturnType<typeof webUiServer>>;

const api = () => {
  const transport = createConnectTransport({ baseUrl: context.server.url, httpVersion: '1.1' });
  return { registry: createClient(RegistryService, transport), log: createClient(TransparencyLogService, transport) };
};

/** Registers agents named <prefix>-0.log.example, <prefix>-1.log.example, ... */
async function registerAgents(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) await api().registry.registerAgent({ agentName: `${prefix}-${i}.log.example`, owner: 'log-team' });
}

beforeAll(async () => {
  // Checkpoints only when a test publishes one, so each test knows what the latest one holds.
  context = await webUiServer('sqlite', { checkpointInterval: 86400 });
  browser = await launchChromium();
  // 21 registrations, a rotation and a revocation: 23 entries, more than the page's 20 a page.
  await registerAgents('seed', 21);
  await api().registry.rotateCertificate({ agentName: 'seed-0.log.example' });
  await api().registry.revokeAgent({ agentName: 'seed-1.log.example', reason: 'keyCompromise' });
  await api().log.publishCheckpoint({});
});

afterAll(async () => {
  await browser?.close();
  await context?.cleanup();
});

async function open(path: string, viewport = VIEWPORTS.desktop, origin = context.server.url): Promise<Page> {
  const page = await (await newContext(browser, viewport)).newPage();
  await page.goto(`${origin}/${path}`);
  return page;
}

const section = (page: Page, title: string): Locator => page.locator('section', { has: page.getByRole('heading', { name: title, exact: true }) });

/** The verdict box in a section once it is there: 'ok' or 'bad' and its text. */
async function verdictIn(area: Locator): Promise<{ result: string; text: string }> {
  const box = area.locator('.result').first();
  await box.waitFor();
  return { result: (await box.getAttribute('class'))!.replace('result ', ''), text: (await box.textContent())! };
}

/** A syntactically valid verifier key of another Ed25519 key, with the log's own key name. */
async function anotherVerifierKey(): Promise<string> {
  const { verifierKey } = await api().log.getCheckpoint({});
  return createNoteSigner(verifierKey.split('+')[0]!, generateKeyPairSync('ed25519').privateKey).verifierKey;
}

describe('the checkpoint', () => {
  it('is verified in the browser with the key taken from the server on first use', async () => {
    const latest = await api().log.getCheckpoint({});
    const page = await open('#/log');
    const checkpoint = section(page, 'Latest checkpoint');
    expect(await verdictIn(checkpoint)).toEqual({ result: 'ok', text: expect.stringContaining('signed by the trusted key') });
    const shown = (await checkpoint.textContent())!;
    expect(shown).toContain(latest.rootHash);
    expect(shown).toContain(latest.verifierKey);
    expect(shown).toContain('Taken from the server');
    expect(await checkpoint.locator('dd').nth(1).textContent()).toBe(String(latest.treeSize));
    expect(await page.evaluate(() => (globalThis as unknown as { localStorage: { getItem(item: string): string | null } }).localStorage.getItem('atr.log.verifierKey'))).toBe(latest.verifierKey);
    await section(page, 'Entries').locator('tbody tr').first().waitFor();
    for (const viewport of [VIEWPORTS.desktop, VIEWPORTS.phone]) {
      await page.setViewportSize(viewport);
      await screenshot(page, 'log');
      expect(await axeViolations(page)).toEqual([]);
    }
  });

  it('shows red when the pinned key is another Ed25519 key, and green again once the right one is pinned', async () => {
    const page = await open('#/log');
    const checkpoint = section(page, 'Latest checkpoint');
    expect((await verdictIn(checkpoint)).result).toBe('ok');
    const wrong = await anotherVerifierKey();
    // Pinned from the keyboard: the field, then Enter.
    await page.getByLabel('Verifier key you trust').fill(wrong);
    await page.getByLabel('Verifier key you trust').press('Enter');
    await expect.poll(async () => (await verdictIn(checkpoint)).result).toBe('bad');
    expect((await verdictIn(checkpoint)).text).toContain(`does not verify with the key ${wrong}: the note has no signature by`);
    expect(await checkpoint.textContent()).toContain('Pinned by you');
    expect(await section(page, 'Consistency').locator('.state.empty').textContent()).toContain('Not checked');
    expect(await axeViolations(page)).toEqual([]);
    await screenshot(page, 'log-wrong-key');

    await page.getByLabel('Verifier key you trust').fill((await api().log.getCheckpoint({})).verifierKey);
    await page.getByRole('button', { name: 'Pin this key' }).click();
    await expect.poll(async () => (await verdictIn(checkpoint)).result).toBe('ok');
  });
});

describe('the entries', () => {
  it('are listed oldest first, twenty a page, and filtered by agent', async () => {
    const page = await open('#/log');
    const entries = section(page, 'Entries');
    const rows = entries.locator('tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(20);
    expect(await rows.first().locator('td').allTextContents()).toEqual(['0', 'agent.registered', 'seed-0.log.example', expect.any(String), expect.any(String)]);
    expect(await rows.first().getByRole('link', { name: 'seed-0.log.example' }).getAttribute('href')).toBe('#/agents/seed-0.log.example');

    await page.getByRole('link', { name: 'Next →' }).click();
    await expect.poll(() => rows.first().locator('td').first().textContent()).toBe('20');
    expect(await rows.locator('td:nth-child(2)').allTextContents()).toEqual(['agent.registered', 'agent.rotated', 'agent.revoked']);
    await page.getByRole('link', { name: '← Previous' }).click();
    await expect.poll(() => rows.first().locator('td').first().textContent()).toBe('0');

    await page.getByLabel('Agent name').fill('seed-0.log.example');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.locator('td:nth-child(2)').allTextContents()).toEqual(['agent.registered', 'agent.rotated']);
    await page.getByLabel('Event type').fill('agent.revoked');
    await page.getByLabel('Agent name').fill('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => rows.locator('td:nth-child(3)').allTextContents()).toEqual(['seed-1.log.example']);
    await page.getByLabel('Agent name').fill('nobody.log.example');
    await page.getByRole('button', { name: 'Filter' }).click();
    expect(await entries.locator('.state.empty').textContent()).toBe('No log entries match these filters.');
  });

  it('shows the server’s refusals with their codes: a bad filter, an entry past the end', async () => {
    const page = await open('#/log?type=agent.exploded');
    const alert = section(page, 'Entries').getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/InvalidArgument.*event_type/);
    await page.goto(`${context.server.url}/#/log/99999`);
    await page.getByRole('heading', { name: 'Log entry 99999' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/^NotFound/);
  });
});

describe('an entry', () => {
  it('has its leaf hash computed in the browser and its inclusion in the verified checkpoint proven', async () => {
    const { entry } = await api().log.getEntry({ index: 21n });
    const { treeSize } = await api().log.getCheckpoint({});
    const computed = createHash('sha256').update(Uint8Array.of(0)).update(entry!.data).digest('hex');
    const page = await open('#/log');
    await page.getByRole('link', { name: 'Next →' }).click();
    await page.getByRole('link', { name: 'Entry 21' }).click();
    await page.getByRole('heading', { name: 'Log entry 21' }).waitFor();
    expect(await page.locator('dl.facts').first().textContent()).toContain('agent.rotated');
    expect(await verdictIn(page.locator('main'))).toEqual({ result: 'ok', text: expect.stringContaining('computed in this browser, is the leaf hash') });
    expect(await page.locator('dd', { hasText: computed }).count()).toBe(2);
    const inclusion = page.locator('.result').nth(1);
    await inclusion.waitFor();
    expect(await inclusion.getAttribute('class')).toBe('result ok');
    expect(await inclusion.textContent()).toContain(`included in the log at tree size ${treeSize}`);
    for (const viewport of [VIEWPORTS.desktop, VIEWPORTS.phone]) {
      await page.setViewportSize(viewport);
      await screenshot(page, 'log-entry');
      expect(await axeViolations(page)).toEqual([]);
    }
  });

  it('is shown red when it is not in the latest checkpoint yet', async () => {
    await registerAgents('unpublished', 1);
    const { entries } = await api().log.listEntries({ agentName: 'unpublished-0.log.example' });
    const page = await open(`#/log/${entries[0]!.index}`);
    await page.getByRole('button', { name: 'Verify inclusion' }).waitFor();
    const inclusion = page.locator('.result').nth(1);
    await inclusion.waitFor();
    expect(await inclusion.getAttribute('class')).toBe('result bad');
    expect(await inclusion.textContent()).toContain('is not in the latest checkpoint');
    await api().log.publishCheckpoint({});
    await page.getByRole('button', { name: 'Verify inclusion' }).click();
    await expect.poll(() => page.locator('.result').nth(1).getAttribute('class')).toBe('result ok');
  });
});

describe('consistency', () => {
  it('is proven from the checkpoint remembered on the last visit, and from a pasted older one', async () => {
    const page = await open('#/log');
    const consistency = section(page, 'Consistency');
    await consistency.locator('.state.empty').waitFor();
    expect(await consistency.textContent()).toContain('No earlier checkpoint was verified with this key');
    const older = await api().log.getCheckpoint({});

    await registerAgents('later', 3);
    const newer = await api().log.publishCheckpoint({});
    await page.reload();
    expect(await verdictIn(consistency)).toEqual({ result: 'ok', text: expect.stringContaining(`the tree of size ${newer.treeSize} extends the tree of size ${older.treeSize}`) });
    await page.reload();
    expect((await verdictIn(consistency)).text).toContain(`unchanged at tree size ${newer.treeSize}`);

    await page.getByLabel('Older checkpoint', { exact: true }).fill(older.checkpoint);
    await page.getByRole('button', { name: 'Check consistency' }).click();
    const pasted = consistency.locator('form .result');
    await pasted.waitFor();
    expect(await pasted.textContent()).toContain(`extends the tree of size ${older.treeSize}`);
    expect(await axeViolations(page)).toEqual([]);

    await page.getByLabel('Older checkpoint', { exact: true }).fill(older.checkpoint.replace(`\n${older.treeSize}\n`, `\n${older.treeSize - 1n}\n`));
    await page.getByRole('button', { name: 'Check consistency' }).click();
    await expect.poll(() => pasted.getAttribute('class')).toBe('result bad');
    expect(await pasted.textContent()).toContain('does not verify');
  });
});

describe('through a proxy that tampers with the answers', () => {
  type Rewrite = (answer: Record<string, unknown>) => void;
  const rewrites = new Map<string, Rewrite>();
  let proxy: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    proxy = await tamperingProxy(context.server.url, rewrites);
  });
  afterAll(() => proxy?.close());

  const changeOneProofHash: Rewrite = (answer) => {
    const hashes = answer.hashes as string[];
    hashes[0] = `${hashes[0]!.slice(0, -1)}${hashes[0]!.endsWith('0') ? '1' : '0'}`;
  };

  it('shows a changed inclusion proof hash red', async () => {
    rewrites.set('/atr.v1.TransparencyLogService/GetInclusionProof', changeOneProofHash);
    try {
      const page = await open('#/log/3', VIEWPORTS.desktop, proxy.url);
      const inclusion = page.locator('.result').nth(1);
      await inclusion.waitFor();
      expect(await inclusion.getAttribute('class')).toBe('result bad');
      expect(await inclusion.textContent()).toContain("the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root");
    } finally {
      rewrites.clear();
    }
  });

  it('shows a changed consistency proof hash red, and keeps the trusted checkpoint until the log proves itself', async () => {
    const page = await open('#/log', VIEWPORTS.desktop, proxy.url);
    const consistency = section(page, 'Consistency');
    await consistency.locator('.state.empty').waitFor();
    await registerAgents('tampered', 2);
    await api().log.publishCheckpoint({});

    rewrites.set('/atr.v1.TransparencyLogService/GetConsistencyProof', changeOneProofHash);
    await page.reload();
    expect(await verdictIn(consistency)).toEqual({ result: 'bad', text: expect.stringMatching(/the consistency proof from size \d+ to \d+ does not verify/) });
    rewrites.clear();
    await page.reload();
    expect(await verdictIn(consistency)).toEqual({ result: 'ok', text: expect.stringContaining('extends the tree of size') });
  });

  it('shows a changed checkpoint signature red', async () => {
    rewrites.set('/atr.v1.TransparencyLogService/GetCheckpoint', (answer) => {
      const note = answer.checkpoint as string;
      // Past the signature line's name and the base64 of the 4-byte key ID: a character of the signature itself.
      const at = note.lastIndexOf(' ') + 20;
      answer.checkpoint = `${note.slice(0, at)}${note[at] === 'A' ? 'B' : 'A'}${note.slice(at + 1)}`;
    });
    try {
      const page = await open('#/log', VIEWPORTS.desktop, proxy.url);
      const keyName = (await api().log.getCheckpoint({})).verifierKey.split('+')[0];
      expect(await verdictIn(section(page, 'Latest checkpoint'))).toEqual({ result: 'bad', text: expect.stringContaining(`the signature by ${keyName} does not verify`) });
      expect(await section(page, 'Consistency').textContent()).toContain('Not checked');
    } finally {
      rewrites.clear();
    }
  });
});

/**
 * An HTTP proxy in front of the registry, so the UI it serves calls the registry through it (same origin); it
 * rewrites the Connect JSON answer of each method path in `rewrites`.
 */
async function tamperingProxy(target: string, rewrites: ReadonlyMap<string, (answer: Record<string, unknown>) => void>): Promise<{ url: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const server = createServer((request, response) => {
    // Uncompressed answers, so the proxy can read and rewrite them.
    const headers = { ...request.headers, host: upstream.host, 'accept-encoding': 'identity' };
    const out = forward(new URL(request.url ?? '/', upstream), { method: request.method, headers }, (answer) => {
      const rewrite = rewrites.get(request.url ?? '');
      if (rewrite === undefined || answer.statusCode !== 200) {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      } else {
        void rewritten(answer, response, rewrite);
      }
    });
    request.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

async function rewritten(answer: IncomingMessage, response: ServerResponse, rewrite: (answer: Record<string, unknown>) => void): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of answer) chunks.push(chunk as Buffer);
  const json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  rewrite(json);
  const body = Buffer.from(JSON.stringify(json));
  response.writeHead(200, { ...answer.headers, 'content-length': String(body.length) });
  response.end(body);
}

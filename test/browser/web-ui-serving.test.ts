// How the web UI is served: index.html no-cache and assets immutable by content hash, under a CSP that allows only
// this origin; off with WEB_UI_ENABLED=false; a clear 503 where it was never built; open to anonymous visitors when
// PUBLIC_READS=false (the page is public code, the API still asks for a key). In Chromium: the page asks nothing of
// any other origin and breaks no CSP rule, and the accessibility scan is shown able to fail.
import { mkdtempSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningServer } from '../support/server.ts';
import { axeViolations, launchChromium, webUiServer } from '../support/web-ui.ts';

let context: Awaited<ReturnType<typeof webUiServer>>;
let base: string;

beforeAll(async () => {
  context = await webUiServer('sqlite', { apiKeyEnabled: true, publicReads: false });
  base = context.server.url;
});
afterAll(() => context?.cleanup());

/** A GET with the given Accept-Encoding, the body as sent (fetch would decompress it). */
function rawGet(url: string, acceptEncoding: string): Promise<{ encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'accept-encoding': acceptEncoding } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ encoding: response.headers['content-encoding'], body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

const assetsOf = (html: string) => [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1]!);

describe('serving the UI', () => {
  it('serves index.html at / with no-cache and a CSP that allows only this origin, to anonymous visitors too', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).not.toMatch(/<script>|style="/);
    expect((await fetch(`${base}/v1/agents`)).status).toBe(401);
  });

  it('serves the hashed assets immutable, compressed when the browser accepts it, and nothing else under /assets/', async () => {
    const assets = assetsOf(await (await fetch(`${base}/`)).text());
    expect(assets.some((path) => /^\/assets\/app-[A-Z0-9]+\.js$/.test(path))).toBe(true);
    expect(assets.some((path) => /^\/assets\/app-[A-Z0-9]+\.css$/.test(path))).toBe(true);
    for (const path of assets) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(response.headers.get('content-type')).toMatch(path.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    }
    const script = assets.find((path) => path.endsWith('.js'))!;
    const plain = await rawGet(`${base}${script}`, 'identity');
    for (const [accept, encoding, decode] of [
      ['gzip, deflate, br', 'br', brotliDecompressSync],
      ['gzip', 'gzip', gunzipSync],
      ['br;q=0, gzip', 'gzip', gunzipSync],
    ] as const) {
      const compressed = await rawGet(`${base}${script}`, accept);
      expect(compressed.encoding).toBe(encoding);
      expect(compressed.body.length).toBeLessThan(plain.body.length / 2);
      expect(decode(compressed.body)).toEqual(plain.body);
    }
    expect(plain.encoding).toBeUndefined();
    expect((await fetch(`${base}/assets/app-NOTTHERE.js`)).status).toBe(404);
    expect((await fetch(`${base}/assets/../package.json`)).status).toBe(404);
    expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
  });

  it('is not served with WEB_UI_ENABLED=false, and says how to build it when it was never built', async () => {
    const off = await runningServer('sqlite', { webUiEnabled: false, mtlsEnabled: false });
    const unbuilt = await runningServer('sqlite', { webUiDir: mkdtempSync(join(tmpdir(), 'atr-no-web-')), mtlsEnabled: false, logLevel: 'silent' });
    try {
      expect((await fetch(`${off.server.url}/`)).status).toBe(404);
      const response = await fetch(`${unbuilt.server.url}/`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ code: 'web_ui_not_built', detail: expect.stringContaining('npm run build') });
      // The API is unaffected.
      expect((await fetch(`${unbuilt.server.url}/healthz`)).status).toBe(200);
    } finally {
      await off.cleanup();
      await unbuilt.cleanup();
    }
  });
});

describe('the UI in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  it('asks nothing of another origin, breaks no CSP rule, and shows a refused read as an error, not a blank page', async () => {
    const requests: string[] = [];
    const problems: string[] = [];
    for (const route of ['agents', 'register', 'verify', 'log', 'access']) {
      const page = await browser.newPage();
      page.on('request', (request) => requests.push(request.url()));
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy|Refused/.test(message.text())) problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(String(error)));
      await page.goto(`${base}/#/${route}`, { waitUntil: 'networkidle' });
      await page.locator('h1').waitFor();
      if (route === 'agents') await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/Unauthenticated/);
      await page.close();
    }
    expect(requests.filter((url) => !url.startsWith(`${base}/`) && !url.startsWith('blob:'))).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('the accessibility scan reports a violation when there is one', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/#/access`);
    await page.locator('h1').waitFor();
    await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { createElement(t: string): { type: string }; querySelector(s: string): { append(n: object): void } } }).document;
      const input = doc.createElement('input');
      input.type = 'text';
      doc.querySelector('main')!.append(input);
    });
    expect((await axeViolations(page, ['critical', 'serious'])).map((violation) => violation.id)).toContain('label');
    await page.close();
  });
});

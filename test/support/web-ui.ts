// The web UI in a real browser: the UI built once per test file into a directory of its own, a server that
// serves it, Debian's Chromium driven by playwright-core, screenshots kept as artifacts, and an axe-core scan.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import type { Config } from '../../src/config/schema.ts';
import type { Dialect } from '../../src/config/database-url.ts';
import { type WebUiBuildOptions, buildWebUi } from '../../src/web/build.ts';
import { runningServer } from './server.ts';

/** Where screenshots go: test-artifacts/web/<page>-<width>.png (CI keeps the directory). */
export const ARTIFACTS_DIR = join(import.meta.dirname, '..', '..', 'test-artifacts', 'web');

let built: Promise<string> | undefined;

/** The UI built from src/web into a temporary directory, once per test file. */
export function builtWebUi(): Promise<string> {
  built ??= buildInto();
  return built;
}

/** A build of the UI of its own, e.g. one that calls a registry on another origin. */
export async function buildInto(options: WebUiBuildOptions = {}): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'atr-web-')), 'web');
  await buildWebUi(dir, options);
  return dir;
}

/** A registry serving the freshly built UI at /. */
export async function webUiServer(dialect: Dialect, overrides: Partial<Config> = {}) {
  return runningServer(dialect, { mtlsEnabled: false, webUiDir: await builtWebUi(), ...overrides });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

export interface Viewport {
  readonly width: number;
  readonly height: number;
}

export const VIEWPORTS: { readonly phone: Viewport; readonly desktop: Viewport } = { phone: { width: 360, height: 760 }, desktop: { width: 1280, height: 900 } };

/** A fresh browser context (its own sessionStorage) at a width; downloads accepted. */
export function newContext(browser: Browser, viewport: Viewport = VIEWPORTS.desktop): Promise<BrowserContext> {
  return browser.newContext({ viewport, acceptDownloads: true });
}

/** Saves the page as test-artifacts/web/<name>-<width>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const width = page.viewportSize()?.width ?? 0;
  const path = join(ARTIFACTS_DIR, `${name}-${width}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: string[];
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's WCAG 2 A/AA rules on the page as it is; the violations of the given impacts. Evaluated through the
 * DevTools protocol, which the page's CSP does not govern (the UI itself runs no inline script).
 */
export async function axeViolations(page: Page, impacts: readonly string[] = ['serious', 'critical']): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const page = globalThis as unknown as {
      document: object;
      axe: { run(context: object, options: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> };
    };
    const result = await page.axe.run(page.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact !== null && impacts.includes(v.impact));
}

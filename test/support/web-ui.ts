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

/**
 * Saves the page as test-artifacts/web/<name>-360.png and <name>-1280.png, whatever width the test runs at, and
 * leaves it at that width. At 360 px the page must fit: nothing may stretch it past the viewport (a table or a hash
 * that does not wrap would make the phone scroll sideways); otherwise the test fails naming what widens it.
 */
export async function screenshot(page: Page, name: string): Promise<string[]> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const original = page.viewportSize() ?? VIEWPORTS.desktop;
  const paths: string[] = [];
  try {
    for (const viewport of [VIEWPORTS.phone, VIEWPORTS.desktop]) {
      await page.setViewportSize(viewport);
      const path = join(ARTIFACTS_DIR, `${name}-${viewport.width}.png`);
      await page.screenshot({ path, fullPage: true });
      paths.push(path);
      if (viewport === VIEWPORTS.phone) await expectFitsWidth(page, name);
    }
  } finally {
    await page.setViewportSize(original);
  }
  return paths;
}

async function expectFitsWidth(page: Page, name: string): Promise<void> {
  const overflow = await page.evaluate(() => {
    // Typed by hand: the tests do not load the DOM library.
    interface Box { right: number }
    interface Node { tagName: string; id: string; className: unknown; parentElement: Node | null; getBoundingClientRect(): Box }
    const { document, getComputedStyle, scrollX } = globalThis as unknown as {
      scrollX: number;
      document: {
        documentElement: { scrollWidth: number; clientWidth: number };
        body: Node & { querySelectorAll(selector: string): ArrayLike<Node> };
        createTreeWalker(root: Node, show: number): { nextNode(): (Node & { textContent: string | null }) | null };
        createRange(): { selectNodeContents(node: Node): void; getBoundingClientRect(): Box };
      };
      getComputedStyle(element: Node): { overflowX: string };
    };
    const root = document.documentElement;
    if (root.scrollWidth <= root.clientWidth) return undefined;
    // Content inside a box that scrolls or clips by itself does not widen the page.
    const contained = (element: Node) => {
      for (let parent = element.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
        if (getComputedStyle(parent).overflowX !== 'visible') return true;
      }
      return false;
    };
    // The innermost element past the edge is the one that cannot shrink; its ancestors only follow it.
    let culprit = '';
    let deepest = -1;
    for (const element of Array.from(document.body.querySelectorAll('*'))) {
      if (element.getBoundingClientRect().right + scrollX <= root.clientWidth || contained(element)) continue;
      let depth = 0;
      for (let parent = element.parentElement; parent; parent = parent.parentElement) depth++;
      if (depth > deepest) {
        deepest = depth;
        const classes = typeof element.className === 'string' && element.className ? `.${element.className.split(' ').join('.')}` : '';
        culprit = `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}${classes}`;
      }
    }
    // A word of text too long to wrap widens the page without any element of its own past the edge.
    if (culprit === '') {
      const walker = document.createTreeWalker(document.body, 4 /* NodeFilter.SHOW_TEXT */);
      for (let text = walker.nextNode(); text; text = walker.nextNode()) {
        const range = document.createRange();
        range.selectNodeContents(text);
        if (range.getBoundingClientRect().right + scrollX > root.clientWidth && !contained(text)) {
          culprit = `text "${String(text.textContent).slice(0, 60)}" in ${text.parentElement?.tagName.toLowerCase() ?? '?'}`;
          break;
        }
      }
    }
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, culprit };
  });
  if (overflow) {
    throw new Error(`${name} at ${VIEWPORTS.phone.width} px is ${overflow.scrollWidth} px wide (viewport ${overflow.clientWidth}); innermost element past the edge: ${overflow.culprit}`);
  }
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

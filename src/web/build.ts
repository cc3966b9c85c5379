// Builds the web UI into static files: assets/ named by content hash (served immutable) and index.html pointing
// at them (served no-cache). `npm run build` writes dist/web; tests build into a directory of their own.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const packageRoot = join(here, '..', '..');

/** Where `npm run build` puts the UI, and where the server looks unless WEB_UI_DIR says otherwise. */
export const DEFAULT_WEB_UI_DIR = join(packageRoot, 'dist', 'web');

export interface WebUiBuildOptions {
  /**
   * The registry the UI calls when it is served from another origin (a CDN, an app's own host); unset, it calls the
   * origin it was loaded from. The registry must then list the UI's origin in CORS_ALLOWED_ORIGINS.
   */
  readonly apiBaseUrl?: string | undefined;
}

export async function buildWebUi(outDir: string = DEFAULT_WEB_UI_DIR, options: WebUiBuildOptions = {}): Promise<void> {
  const apiBaseUrl = options.apiBaseUrl === undefined ? undefined : new URL(options.apiBaseUrl).origin;
  await rm(outDir, { recursive: true, force: true });
  const assets = join(outDir, 'assets');
  await mkdir(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: join(here, 'app', 'main.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: 'linked',
    // The maps name the original lines; the sources themselves are in the package and the repository.
    sourcesContent: false,
    entryNames: '[name]-[hash]',
    outdir: assets,
    metafile: true,
    legalComments: 'linked',
    // The name rules are the server's own (src/registry/names.ts); in the browser punycode stands in for node:url.
    alias: { 'node:url': join(here, 'app', 'shims', 'url.ts') },
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
  const script = outputs.find((name) => /^app-[A-Z0-9]+\.js$/.test(name));
  const style = outputs.find((name) => /^app-[A-Z0-9]+\.css$/.test(name));
  if (script === undefined || style === undefined) throw new Error(`the web UI build wrote no app script or stylesheet: ${outputs.join(', ')}`);
  await writeFile(join(outDir, 'index.html'), indexHtml(script, style, apiBaseUrl));
  // Compressed once here, at the best ratio, so the server sends them as they are (~400 KiB of script to ~100).
  for (const name of [script, style]) {
    const content = await readFile(join(assets, name));
    await writeFile(join(assets, `${name}.br`), brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY } }));
    await writeFile(join(assets, `${name}.gz`), gzipSync(content, { level: 9 }));
  }
}

function indexHtml(script: string, style: string, apiBaseUrl: string | undefined): string {
  const api = apiBaseUrl === undefined ? '' : `<meta name="atr-api-base-url" content="${apiBaseUrl}">\n`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agent Trust Registry</title>
${api}<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<noscript>The registry's web UI needs JavaScript; the API and the atr CLI do not.</noscript>
</body>
</html>
`;
}

// node --import tsx src/web/build.ts [outDir] [--api-base-url https://registry.example]
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'api-base-url': { type: 'string' } } });
  const outDir = positionals[0] ?? DEFAULT_WEB_UI_DIR;
  await buildWebUi(outDir, { apiBaseUrl: values['api-base-url'] });
  console.log(`web UI built in ${relative(process.cwd(), outDir) || '.'}`);
}

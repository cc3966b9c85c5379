// Builds the web UI into static files: assets/ named by content hash (served immutable) and index.html pointing
// at them (served no-cache). `npm run build` writes dist/web; tests build into a directory of their own.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const packageRoot = join(here, '..', '..');

/** Where `npm run build` puts the UI, and where the server looks unless WEB_UI_DIR says otherwise. */
export const DEFAULT_WEB_UI_DIR = join(packageRoot, 'dist', 'web');

export async function buildWebUi(outDir: string = DEFAULT_WEB_UI_DIR): Promise<void> {
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
  await writeFile(join(outDir, 'index.html'), indexHtml(script, style));
}

function indexHtml(script: string, style: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agent Trust Registry</title>
<link rel="stylesheet" href="/assets/${style}">
<script type="module" src="/assets/${script}"></script>
</head>
<body>
<noscript>The registry's web UI needs JavaScript; the API and the atr CLI do not.</noscript>
</body>
</html>
`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = process.argv[2] ?? DEFAULT_WEB_UI_DIR;
  await buildWebUi(outDir);
  console.log(`web UI built in ${relative(process.cwd(), outDir) || '.'}`);
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the browser entry (atr/browser)', () => {
  it('bundles for the browser without Node built-ins, Node-only packages or server code', async () => {
    // For platform 'browser' esbuild fails on any `node:` or bare built-in import it cannot resolve, so a
    // successful build is the first half of the check; the metafile shows what was pulled in.
    const result = await build({
      absWorkingDir: root,
      entryPoints: ['src/sdk/browser.ts'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('src/sdk/browser.ts');
    expect(inputs.filter((input) => /^src\/(server|db|cli|config|pki|auth|cache|registry|services|verify)\//.test(input))).toEqual([]);
    expect(inputs.filter((input) => /node_modules\/(@connectrpc\/connect-node|@peculiar|@mikro-orm|jose|pino)\//.test(input))).toEqual([]);
    expect(inputs.some((input) => input.includes('node_modules/@connectrpc/connect-web/'))).toBe(true);
    // Globals are no imports, so esbuild cannot see them: Buffer and process do not exist in a browser.
    const ours = inputs.filter((input) => /^(src|gen)\//.test(input));
    expect(ours.filter((input) => /\bBuffer\.|\bprocess\./.test(readFileSync(join(root, input), 'utf8')))).toEqual([]);
  });
});

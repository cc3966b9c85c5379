import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// The layer rules of .dependency-cruiser.cjs, run by dependency-cruiser's own command as CI would run it.

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
}

/** The violations dependency-cruiser reports for `src/` in `cwd`, with the project's rules. */
async function violations(cwd: string): Promise<Violation[]> {
  const args = ['src', '--config', join(cwd, '.dependency-cruiser.cjs'), '--output-type', 'json'];
  const { stdout } = await run(depcruise, args, { cwd, maxBuffer: 64 << 20 }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('layers', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'atr-layers-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('src/ has no cycle and no dependency that points up a layer', async () => {
    const found = await violations(root);
    expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  }, 60_000);

  it('catches a domain module importing the server, and the cycle it makes', async () => {
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    };
    copyFileSync(join(root, '.dependency-cruiser.cjs'), join(scratch, '.dependency-cruiser.cjs'));
    write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true, noEmit: true } }));
    write('src/registry/rule.ts', "import { handler } from '../server/handler.ts';\nexport const rule = () => handler;\n");
    write('src/server/handler.ts', "import { rule } from '../registry/rule.ts';\nexport const handler = () => rule;\n");
    write('src/auth/policy.ts', "import type { Handler } from '../services/handler.ts';\nexport type Policy = Handler;\n");
    write('src/services/handler.ts', 'export type Handler = () => void;\n');
    const found = (await violations(scratch)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'domain-stays-inside: src/registry/rule.ts -> src/server/handler.ts',
        'no-circular: src/registry/rule.ts -> src/server/handler.ts',
        'auth-is-policy: src/auth/policy.ts -> src/services/handler.ts',
      ]),
    );
  }, 60_000);
});

import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runAtr } from '../support/cli.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('atr --version', () => {
  it('prints the version in package.json and exits 0', async () => {
    const result = await runAtr(['--version'], tmpdir());
    expect(result).toEqual({ code: 0, stdout: `atr ${version}\n`, stderr: '' });
  });

  it('the help names the same version', async () => {
    const result = await runAtr(['--help'], tmpdir());
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe(`atr ${version}`);
  });
});

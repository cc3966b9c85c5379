// The CLI against a registry with ASYNC_PROCESSING_ENABLED: register and rotate wait for their operations, so the
// files they write are complete, and `atr operations show` reports an operation.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configWith } from '../../src/config/load.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { runAtr } from '../support/cli.ts';

const run = promisify(execFile);
let tmp: string;
let server: RunningServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'atr-cli-async-'));
  server = await startServer(
    configWith({ port: 0, mtlsPort: 0, databaseUrl: `sqlite:///${tmp}/atr.db`, pkiRootDir: `${tmp}/pki`, asyncProcessingEnabled: true, jobsPollMs: 50, logLevel: 'warn' }),
  );
});
afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const atr = (...args: string[]) => runAtr([...args, '--server', server.url], tmp, { KEYS_ROOT_DIR: join(tmp, 'keys') });
const pubkey = async (...args: string[]) => (await run('openssl', args)).stdout;

describe('atr with asynchronous processing', () => {
  it('register waits for its operation and writes a certificate for the local key; rotate does too', async () => {
    const registered = await atr('agents', 'register', 'cli.async.example', '--owner', 'ops', '--json');
    expect(registered.stderr).toBe('');
    expect(registered.code).toBe(0);
    const answer = JSON.parse(registered.stdout) as { operation_id: string; agent: { status: string } };
    expect(answer.agent.status).toBe('AGENT_STATUS_ACTIVE');
    expect(answer.operation_id).toMatch(/^[0-9a-f-]{36}$/);
    const directory = join(tmp, 'keys', 'cli.async.example');
    const fromKey = await pubkey('pkey', '-in', join(directory, 'key.pem'), '-pubout');
    expect(await pubkey('x509', '-in', join(directory, 'cert.pem'), '-noout', '-pubkey')).toBe(fromKey);

    const shown = await atr('operations', 'show', answer.operation_id);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/state:\s+succeeded/);
    expect(shown.stdout).toMatch(/kind:\s+register/);

    const before = readFileSync(join(directory, 'cert.pem'), 'utf8');
    const rotated = await atr('agents', 'rotate', 'cli.async.example');
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    const after = readFileSync(join(directory, 'cert.pem'), 'utf8');
    expect(after).not.toBe(before);
    expect(await pubkey('x509', '-in', join(directory, 'cert.pem'), '-noout', '-pubkey')).toBe(await pubkey('pkey', '-in', join(directory, 'key.pem'), '-pubout'));
  });

  it('says what an unknown or malformed operation id is', async () => {
    const unknown = await atr('operations', 'show', '00000000-0000-4000-8000-000000000000');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no operation');
    const malformed = await atr('operations', 'show', 'nope');
    expect(malformed.code).not.toBe(0);
    expect(malformed.stderr).toContain('operation_id');
  });
});

// The CLI as a user on the server's machine meets it: it finds the server from .env and the environment, explains
// each group and option, and lets an agent use its own certificate over the mTLS listener (whoami, renew).
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.ts';
import { configWith } from '../../src/config/load.ts';
import { fingerprintOf } from '../../src/pki/fingerprint.ts';
import { startServer } from '../../src/server/server.ts';
import { runAtr } from '../support/cli.ts';
import { healthzOverMtls } from '../support/mtls.ts';

const run = promisify(execFile);

let tmp: string;
let server: Awaited<ReturnType<typeof startServer>>;
const port = () => new URL(server.url).port;
const mtlsPort = () => new URL(server.mtlsUrl ?? '').port;

/** A directory of its own for each run: its .env is the only thing that says where the server is. */
function directoryWith(dotenv: string): string {
  const dir = mkdtempSync(join(tmp, 'cwd-'));
  writeFileSync(join(dir, '.env'), dotenv);
  return dir;
}

async function registered(name: string): Promise<string> {
  const keys = join(tmp, 'keys');
  const result = await runAtr(['agents', 'register', name, '--owner', 'cli', '--server', server.url], tmp, { KEYS_ROOT_DIR: keys });
  expect(result.stderr).toBe('');
  return join(keys, name);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'atr-cli-native-'));
  server = await startServer(configWith({ port: 0, mtlsPort: 0, databaseUrl: `sqlite:///${tmp}/atr.db`, pkiRootDir: `${tmp}/pki` }));
});

afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('where the CLI finds the registry', () => {
  it('PORT in .env points it at this machine on that port, as it points the server', async () => {
    await registered('dotenv-port.cli.test');
    const result = await runAtr(['resolve', 'dotenv-port.cli.test'], directoryWith(`PORT=${port()}\n`));
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^name: +dotenv-port\.cli\.test$/m);
  });

  it('ATR_SERVER in .env works too, and the environment wins over .env', async () => {
    const dir = directoryWith(`ATR_SERVER=${server.url}\n`);
    expect((await runAtr(['agents', 'list'], dir)).code).toBe(0);
    const overridden = await runAtr(['agents', 'list'], dir, { ATR_SERVER: 'http://127.0.0.1:9' });
    expect(overridden.code).toBe(1);
    expect(overridden.stderr).toContain('cannot reach the registry at http://127.0.0.1:9');
  });

  it('a wildcard HOST means this machine; PORT from the environment beats .env', async () => {
    const dir = directoryWith('HOST=0.0.0.0\nPORT=9\n');
    expect((await runAtr(['agents', 'list'], dir)).stderr).toContain('http://127.0.0.1:9');
    expect((await runAtr(['agents', 'list'], dir, { PORT: port() })).code).toBe(0);
  });

  it('TLS on the server in .env makes the default https', async () => {
    const result = await runAtr(['agents', 'list'], directoryWith('PUBLIC_TLS=registry\nPORT=9\n'));
    expect(result.stderr).toContain('https://127.0.0.1:9');
  });
});

describe('help', () => {
  it('every option of every command says what it does', () => {
    for (const command of COMMANDS) {
      for (const [name, option] of Object.entries(command.options)) {
        expect(option.description.length, `atr ${command.name} --${name}`).toBeGreaterThan(10);
      }
    }
  });

  it("a group's --help lists that group's commands with their options, and nothing else", async () => {
    const { code, stdout } = await runAtr(['agents', '--help'], tmp);
    expect(code).toBe(0);
    const listed = [...stdout.matchAll(/^atr (\S+ \S+)/gm)].map((match) => match[1]);
    expect(listed).toEqual(COMMANDS.filter((command) => command.name.startsWith('agents ')).map((command) => command.name));
    expect(stdout).toMatch(/^ {4}--expected-version N +refuse the change unless/m);
    expect(stdout).not.toContain('atr keys');
  });

  it("a command's --help shows its options and the global ones", async () => {
    const { code, stdout } = await runAtr(['keys', 'create', '--help'], tmp);
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toMatch(/^usage: atr keys create --role/);
    for (const name of Object.keys(COMMANDS.find((command) => command.name === 'keys create')?.options ?? {})) {
      expect(stdout).toMatch(new RegExp(`^ {4}--${name}\\b.* [a-z]`, 'm'));
    }
    expect(stdout).toMatch(/^ {2}--cacert FILE +CA certificates/m);
  });
});

describe("an agent's own commands over the mTLS listener", () => {
  it('whoami shows the record of the certificate it connects with', async () => {
    const dir = await registered('whoami.cli.test');
    const cert = join(dir, 'cert.pem');
    const result = await runAtr(
      ['whoami', '--cert', cert, '--key', join(dir, 'key.pem'), '--mtls-server', server.mtlsUrl ?? ''],
      tmp,
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^name: +whoami\.cli\.test$/m);
    expect(result.stdout).toMatch(new RegExp(`^connected with: +${fingerprintOf(new X509Certificate(readFileSync(cert)).raw)}$`, 'm'));
  });

  it('whoami finds the mTLS listener from MTLS_PORT in .env, and a foreign CA is refused', async () => {
    const dir = await registered('whoami-dotenv.cli.test');
    const args = ['whoami', '--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')];
    const cwd = directoryWith(`PORT=${port()}\nMTLS_PORT=${mtlsPort()}\n`);
    expect((await runAtr(args, cwd)).stdout).toMatch(/^name: +whoami-dotenv\.cli\.test$/m);
    const foreign = join(tmp, 'foreign-ca.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=foreign', '-days', '1', '-keyout', join(tmp, 'foreign.key'), '-out', foreign]);
    const refused = await runAtr([...args, '--cacert', foreign], cwd);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/certificate/i);
  });

  it('renew replaces the pair with a new key, keeps the old one, and the old certificate stops working', async () => {
    const dir = await registered('renew.cli.test');
    const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), chain: join(dir, 'chain.pem') };
    const before = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
    const result = await runAtr(['renew', '--cert', files.cert, '--key', files.key, '--mtls-server', server.mtlsUrl ?? ''], tmp);
    expect(result.stderr).toBe('');
    const after = { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
    expect(after.key).not.toBe(before.key);
    const renewed = new X509Certificate(after.cert);
    expect(renewed.checkPrivateKey(createPrivateKey(after.key))).toBe(true);
    expect(result.stdout).toMatch(new RegExp(`^fingerprint: +${fingerprintOf(renewed.raw)}$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^superseded: +${fingerprintOf(new X509Certificate(before.cert).raw)}$`, 'm'));
    expect(readFileSync(join(dir, 'key.prev.pem'), 'utf8')).toBe(before.key);
    expect(readFileSync(join(dir, 'cert.prev.pem'), 'utf8')).toBe(before.cert);
    for (const key of [files.key, join(dir, 'key.prev.pem')]) expect(statSync(key).mode & 0o777).toBe(0o600);

    const verdict = await runAtr(['verify', join(dir, 'cert.prev.pem'), '--server', server.url], tmp);
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toMatch(/^reason: +superseded$/m);
    const ca = readFileSync(files.chain, 'utf8');
    const old = healthzOverMtls(server.mtlsUrl ?? '', { ca, cert: before.cert, key: before.key });
    const current = healthzOverMtls(server.mtlsUrl ?? '', { ca, cert: after.cert, key: after.key });
    try {
      expect(await current.status).toBe(200);
      expect(await old.status).not.toBe(200);
    } finally {
      old.session.destroy();
      current.session.destroy();
    }
  });

  it('without --cert it is a usage mistake, and nothing is sent', async () => {
    const result = await runAtr(['renew', '--key', 'key.pem'], tmp);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --cert is required\nusage: atr renew --cert FILE/);
  });
});

// `atr agent run` as a user runs it (a child process through tsx) against a real registry with 30-second
// certificates: the files it rewrites, the signals its --exec child gets, and how it ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/pki/fingerprint.ts';
import { type RegistryClient, createRegistryClient, generateKeyAndCsr } from '../../src/sdk/index.ts';
import type { RunningServer } from '../../src/server/server.ts';
import { ATR_NODE_ARGS, runAtr } from '../support/cli.ts';
import { runningServer } from '../support/server.ts';

const EXIT_REVOKED = 3;

/** The --exec child: records when it starts and every SIGHUP and SIGTERM it gets, with its pid, one per line. */
const CHILD = `
import { appendFileSync } from 'node:fs';
const log = process.argv[2];
appendFileSync(log, 'start ' + process.pid + '\\n');
process.on('SIGHUP', () => appendFileSync(log, 'SIGHUP ' + process.pid + '\\n'));
process.on('SIGTERM', () => { appendFileSync(log, 'SIGTERM ' + process.pid + '\\n'); process.exit(0); });
setInterval(() => {}, 1000);
`;

interface Running {
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

describe('atr agent run', () => {
  let server: RunningServer;
  let dir: string;
  let client: RegistryClient;
  let cleanup: () => Promise<void>;
  const started: ChildProcess[] = [];

  beforeAll(async () => {
    const running = await runningServer('sqlite', { certValiditySeconds: 30 });
    ({ server, cleanup } = running);
    dir = running.environment.dir;
    client = createRegistryClient({ baseUrl: server.url });
    writeFileSync(join(dir, 'child.mjs'), CHILD);
  });
  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  afterAll(() => cleanup());

  /** Registers an agent with a key made here and writes key.pem (0600), cert.pem and chain.pem, as `atr agents register` does. */
  async function agentFiles(name: string) {
    const { privateKeyPem, csrPem } = await generateKeyAndCsr(name);
    const issued = await client.registry.registerAgent({ agentName: name, owner: 'cli', csrPem });
    const files = join(dir, 'keys', name);
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, 'key.pem'), privateKeyPem, { mode: 0o600 });
    writeFileSync(join(files, 'cert.pem'), issued.certPem);
    writeFileSync(join(files, 'chain.pem'), issued.chainPem);
    return { name, files, key: join(files, 'key.pem'), cert: join(files, 'cert.pem'), fingerprint: issued.agent?.certFingerprint ?? '' };
  }

  /** Starts `atr agent run` for the agent, its child logging signals to `signals.log` beside its files. */
  function agentRun(agent: Awaited<ReturnType<typeof agentFiles>>, ...extra: string[]): Running {
    const signals = join(agent.files, 'signals.log');
    writeFileSync(signals, '');
    const args = [
      'agent', 'run', '--name', agent.name, '--key', agent.key, '--cert', agent.cert,
      '--server', server.url, '--mtls-server', server.mtlsUrl ?? '',
      '--exec', `'${process.execPath}' '${join(dir, 'child.mjs')}' '${signals}'`,
      '--renew-at', '1/3',
      ...extra,
    ];
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env['ATR_SERVER'];
    delete env['ATR_API_KEY'];
    const child = spawn(process.execPath, [...ATR_NODE_ARGS, ...args], { cwd: dir, env });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    return { process: child, exited, output: () => ({ stdout, stderr }) };
  }

  const signalLog = (agent: { files: string }) => readFileSync(join(agent.files, 'signals.log'), 'utf8').trim().split('\n').filter(Boolean);
  const fileFingerprint = (agent: { cert: string }) => fingerprintOf(new X509Certificate(readFileSync(agent.cert)).raw);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('rewrites the files with each new certificate, sends the child SIGHUP, and exits 3 stopping the child once the agent is revoked', async () => {
    const agent = await agentFiles('signalled.cli.test');
    const run = agentRun(agent);
    await expect.poll(() => signalLog(agent).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const [, pid] = (signalLog(agent)[0] ?? '').split(' ');
    expect(Number(pid)).toBeGreaterThan(0);

    await expect.poll(() => fileFingerprint(agent), { timeout: 40_000, interval: 250 }).not.toBe(agent.fingerprint);
    const renewed = fileFingerprint(agent);
    expect((await client.registry.getAgent({ agentName: agent.name })).agent?.certFingerprint).toBe(renewed);
    expect(statSync(agent.key).mode & 0o777).toBe(0o600);
    const keyPublic = createPublicKey(createPrivateKey(readFileSync(agent.key))).export({ format: 'der', type: 'spki' });
    expect(new X509Certificate(readFileSync(agent.cert)).publicKey.export({ format: 'der', type: 'spki' }).equals(keyPublic)).toBe(true);
    await expect.poll(() => signalLog(agent), { timeout: 5_000 }).toContain(`SIGHUP ${pid}`);
    // Renamed into place: no temporary file is left beside them.
    expect(readdirSync(agent.files).sort()).toEqual(['cert.pem', 'chain.pem', 'key.pem', 'signals.log']);
    await expect.poll(() => run.output().stdout, { timeout: 5_000 }).toMatch(
      new RegExp(`renewed agent=${agent.name.replace(/\./g, '\\.')} fingerprint=${renewed} not_after=\\S+ previous=${agent.fingerprint} child=SIGHUP:${pid}`),
    );

    await client.registry.revokeAgent({ agentName: agent.name, reason: 'keyCompromise' });
    expect(await run.exited).toBe(EXIT_REVOKED);
    expect(run.output().stderr).toMatch(/certificate [0-9a-f]{64} was revoked/);
    expect(signalLog(agent)).toContain(`SIGTERM ${pid}`);
    expect(alive(Number(pid))).toBe(false);
  }, 90_000);

  it('with --restart, restarts the child after a renewal; SIGTERM stops it and exits 0', async () => {
    const agent = await agentFiles('restarted.cli.test');
    const run = agentRun(agent, '--restart');
    await expect.poll(() => signalLog(agent).filter((line) => line.startsWith('start')).length, { timeout: 40_000, interval: 250 }).toBe(2);
    const [first, second] = signalLog(agent).filter((line) => line.startsWith('start')).map((line) => line.split(' ')[1]);
    expect(first).not.toBe(second);
    expect(signalLog(agent)).toEqual([`start ${first}`, `SIGTERM ${first}`, `start ${second}`]);
    expect(fileFingerprint(agent)).not.toBe(agent.fingerprint);

    run.process.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(signalLog(agent)).toContain(`SIGTERM ${second}`);
    expect(alive(Number(second))).toBe(false);
    expect(run.output().stdout).toMatch(/stopped agent=restarted\.cli\.test signal=SIGTERM/);
  }, 90_000);

  it('exits with the child\'s code when the child exits by itself', async () => {
    const agent = await agentFiles('short.cli.test');
    const result = await runAtr(
      ['agent', 'run', '--name', agent.name, '--key', agent.key, '--cert', agent.cert, '--server', server.url,
        '--mtls-server', server.mtlsUrl ?? '', '--exec', `'${process.execPath}' -e 'process.exit(7)'`],
      dir,
    );
    expect(result.code).toBe(7);
    expect(result.stderr).toContain('the command exited with code 7');
  }, 30_000);

  it('explains its exit codes in --help and refuses bad options with exit 2', async () => {
    const help = await runAtr(['agent', 'run', '--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(`${EXIT_REVOKED} the certificate was revoked or superseded`);

    const agent = await agentFiles('usage.cli.test');
    const base = ['agent', 'run', '--name', agent.name, '--key', agent.key, '--cert', agent.cert, '--server', server.url];
    for (const [extra, message] of [
      [['--restart'], '--signal and --restart need --exec'],
      [['--renew-at', '3/2'], '--renew-at must be a fraction between 0 and 1'],
      [['--exec', 'x', '--signal', 'SIGNOPE'], 'unknown signal'],
      [['--exec', "'unterminated"], "unterminated ' quote"],
      [['--mtls-server', 'http://127.0.0.1:1'], '--mtls-server must be an https:// URL'],
    ] as const) {
      const result = await runAtr([...base, ...extra], dir);
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
    }
    const wrongName = await runAtr(['agent', 'run', '--name', 'other.cli.test', '--key', agent.key, '--cert', agent.cert], dir);
    expect(wrongName.code).toBe(1);
    expect(wrongName.stderr).toContain("is usage.cli.test's certificate, not other.cli.test's");
  }, 60_000);
});

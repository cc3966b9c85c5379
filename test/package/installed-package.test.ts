import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from '../../src/sdk/index.ts';
import { runningServer } from '../support/server.ts';

// The package as a user gets it: `npm pack` (which builds dist/ through the prepare script), installed into an
// empty project with neither tsx nor TypeScript, imported by name from plain JavaScript.

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
const npm = (args: string[], cwd: string) => run('npm', [...args, '--no-audit', '--no-fund'], { cwd, maxBuffer: 16 << 20 });

// What an agent does with the SDK: resolve a name, verify its certificate, and check that the registration is
// in the transparency log, against a checkpoint opened with the log's key.
const AGENT_SCRIPT = `
import { createRegistryClient, hashFromHex, leafHash, openCheckpoint, verifyInclusion, VerifyReason } from '${name}';

const [baseUrl, agentName, certPem, index] = process.argv.slice(2);
const client = createRegistryClient({ baseUrl });
const resolved = await client.resolve.resolveAgent({ agentName });
const verified = await client.verify.verifyCertificate({ certPem });
const { checkpoint: note, verifierKey } = await client.log.getCheckpoint({});
const checkpoint = await openCheckpoint(note, verifierKey);
const { entry } = await client.log.getEntry({ index: BigInt(index) });
const proof = await client.log.getInclusionProof({ index: BigInt(index), treeSize: BigInt(checkpoint.size) });
const included = await verifyInclusion(await leafHash(entry.data), Number(index), checkpoint.size, proof.hashes.map(hashFromHex), checkpoint.rootHash);
console.log(JSON.stringify({
  resolved: resolved.agentName,
  verified: VerifyReason[verified.reason],
  treeSize: checkpoint.size,
  event: entry.event?.eventType,
  included,
}));
`;

let work: string;
let project: string;
let server: Awaited<ReturnType<typeof runningServer>>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'atr-package-'));
  project = join(work, 'project');
  server = await runningServer('sqlite');
  await npm(['pack', '--pack-destination', work], root);
  const tarball = readdirSync(work).find((file) => file.endsWith('.tgz'));
  if (tarball === undefined) throw new Error(`npm pack wrote no tarball into ${work}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'atr-consumer', private: true, type: 'module' })}\n`);
  await npm(['install', join(work, tarball)], project);
}, 480_000);

afterAll(async () => {
  await server?.cleanup();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed package, installed in a plain JavaScript project', () => {
  it('ships compiled JavaScript, types and the licence, and no TypeScript sources or tests', () => {
    const installed = join(project, 'node_modules', name);
    const files = readdirSync(installed, { recursive: true, encoding: 'utf8' });
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', join('dist', 'src', 'sdk', 'index.js'), join('dist', 'src', 'sdk', 'index.d.ts'), join('dist', 'src', 'sdk', 'browser.js')]));
    expect(files.filter((file) => /(?<!\.d)\.ts$/.test(file) || file.startsWith('test'))).toEqual([]);
    expect(readdirSync(join(project, 'node_modules'))).not.toContain('tsx');
  });

  it('resolves an agent, verifies its certificate and proves its registration is in the log, from an .mjs', async () => {
    const agentName = 'packaged.sdk.example';
    const admin = createRegistryClient({ baseUrl: server.server.url });
    const registered = await admin.registry.registerAgent({ agentName, owner: 'package-test' });
    await admin.log.publishCheckpoint({});
    writeFileSync(join(project, 'agent.mjs'), AGENT_SCRIPT);
    const { stdout } = await run(process.execPath, ['agent.mjs', server.server.url, agentName, registered.certPem, String(registered.logIndex)], {
      cwd: project,
    });
    expect(JSON.parse(stdout)).toEqual({
      resolved: agentName,
      verified: 'VERIFIED',
      treeSize: expect.any(Number),
      event: expect.any(String),
      included: true,
    });
  });

  it('installs the atr bin, which runs the compiled CLI', async () => {
    const { stdout } = await run(join(project, 'node_modules', '.bin', 'atr'), ['--version'], { cwd: project });
    expect(stdout).toBe(`atr ${version}\n`);
  });

  it('the bin is the bundled CLI, whose commands reach the server and the modules outside the bundle', async () => {
    const atr = (...args: string[]) => run(join(project, 'node_modules', '.bin', 'atr'), args, {
      cwd: project,
      env: { ...process.env, ATR_SERVER: server.server.url, DATABASE_URL: server.environment.config.databaseUrl },
    });
    expect(readFileSync(join(project, 'node_modules', '.bin', 'atr'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    const agentName = 'packaged.cli.example';
    await createRegistryClient({ baseUrl: server.server.url }).registry.registerAgent({ agentName, owner: 'package-test' });
    expect((await atr('resolve', agentName)).stdout).toMatch(new RegExp(`^name: +${agentName.replaceAll('.', '\\.')}$`, 'm'));
    expect((await atr('agents', '--help')).stdout).toMatch(/^atr agents register <name>/m);
    // keys create --local opens the database through the server's own modules (dist/src), outside the bundle, and
    // prints their answer with the bundle's message schemas.
    const { stdout } = await atr('keys', 'create', '--local', '--role', 'reader', '--json');
    expect(JSON.parse(stdout)).toMatchObject({ key: { role: 'API_KEY_ROLE_READER' }, secret: expect.stringMatching(/^atr_/) });
  });
});

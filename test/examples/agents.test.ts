import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server/server.ts';
import { runningServer } from '../support/server.ts';

const run = promisify(execFile);
const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

// The examples under examples/ are what an agent author copies: they must work against a real mTLS listener.
describe('example agents', () => {
  let server: RunningServer;
  let keysDir: string;
  let cleanup: () => Promise<void>;
  let fingerprint: string;

  beforeAll(async () => {
    const started = await runningServer('sqlite', { mtlsPort: 0 });
    server = started.server;
    cleanup = started.cleanup;
    keysDir = join(started.environment.dir, 'keys');
    const issued = await server.app.registry.register({ agentName: 'example.agents.test', owner: 'examples', capabilities: [] }, 'test');
    fingerprint = issued.agent.certificate!.fingerprint;
    const files = join(keysDir, 'example.agents.test');
    mkdirSync(files, { recursive: true });
    writeFileSync(join(files, 'key.pem'), issued.privateKeyPem ?? '', { mode: 0o600 });
    writeFileSync(join(files, 'cert.pem'), issued.certPem);
    writeFileSync(join(files, 'chain.pem'), server.app.ca.trustBundlePem);
  });
  afterAll(() => cleanup());

  const runExample = (file: string, target: string) =>
    run(process.execPath, ['--import', 'tsx', example(file), 'example.agents.test', target], {
      env: { ...process.env, KEYS_ROOT_DIR: keysDir },
    });

  it('grpc-js: calls WhoAmI with its registry certificate', async () => {
    const { stdout } = await runExample('grpc-js-agent.ts', `localhost:${server.mtlsPort}`);
    expect(stdout).toContain(`I am example.agents.test (AGENT_STATUS_ACTIVE), certificate ${fingerprint}`);
  });

  it('Connect: calls WhoAmI with its registry certificate', async () => {
    const { stdout } = await runExample('connect-agent.ts', `https://localhost:${server.mtlsPort}`);
    expect(stdout).toContain(`I am example.agents.test`);
    expect(stdout).toContain(fingerprint);
  });
});

import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { create, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResolveAgentRequestSchema } from '../../gen/atr/v1/resolve_pb.js';
import { runAtr } from '../support/cli.ts';
import { type ServerProcess, processEnvironment, serverProcess } from '../support/server-process.ts';

const run = promisify(execFile);
const CLIENTS = 20;

// A registry in a process of its own, so that its descriptors and sockets are its alone.
describe('h2c connections closed by their clients', () => {
  let server: ServerProcess;
  let cleanup: () => Promise<void>;
  const port = () => new URL(server.url).port;
  const openDescriptors = () => readdirSync(`/proc/${server.child.pid}/fd`).length;
  const closeWait = () =>
    execFileSync('ss', ['-Htan', 'state', 'close-wait', `( sport = :${port()} )`], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '').length;
  /** Polls until the server holds no more descriptors than `baseline` and no socket in CLOSE_WAIT, or times out. */
  const settled = async (baseline: number) => {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && (openDescriptors() > baseline || closeWait() > 0)) await new Promise((r) => setTimeout(r, 100));
    return { descriptors: openDescriptors(), closeWait: closeWait() };
  };

  beforeAll(async () => {
    const environment = await processEnvironment('sqlite', { MTLS_ENABLED: 'false' });
    cleanup = environment.cleanup;
    server = await serverProcess(environment.env);
    // Whatever the first request opens for good (database connections, ...) belongs to the baseline.
    await fetch(`${server.url}/healthz`);
    await run('curl', ['-s', '--http2-prior-knowledge', `${server.url}/healthz`]);
  });
  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('curl --http2-prior-knowledge, one after another, leave no socket behind', async () => {
    const baseline = (await settled(Infinity)).descriptors;
    for (let i = 0; i < CLIENTS; i++) await run('curl', ['-s', '--http2-prior-knowledge', `${server.url}/healthz`]);
    expect(await settled(baseline)).toEqual({ descriptors: baseline, closeWait: 0 });
  });

  it('gRPC clients that call and then end their connection without GOAWAY leave no socket behind', async () => {
    const baseline = (await settled(Infinity)).descriptors;
    const message = toBinary(ResolveAgentRequestSchema, create(ResolveAgentRequestSchema, { agentName: 'nobody.example' }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
    for (let i = 0; i < CLIENTS; i++) {
      const socket = net.connect(Number(port()), '127.0.0.1');
      const session = http2.connect(server.url, { createConnection: () => socket });
      const stream = session.request({
        ':method': 'POST',
        ':path': '/atr.v1.ResolveService/ResolveAgent',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.end(frame);
      stream.resume();
      const [trailers] = (await once(stream, 'trailers')) as [http2.IncomingHttpHeaders];
      expect(trailers['grpc-status']).toBe('5');
      // What a client process that exits after its call does: FIN, no GOAWAY.
      socket.end();
      await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 1_000))]);
      socket.destroy();
    }
    expect(await settled(baseline)).toEqual({ descriptors: baseline, closeWait: 0 });
  });

  it('the atr CLI over gRPC leaves no socket behind', async () => {
    const baseline = (await settled(Infinity)).descriptors;
    for (let i = 0; i < 3; i++) {
      const result = await runAtr(['--server', server.url, '--protocol', 'grpc', 'resolve', 'nobody.example'], tmpdir());
      expect(result.stderr).toMatch(/not.found|no agent/i);
    }
    expect(await settled(baseline)).toEqual({ descriptors: baseline, closeWait: 0 });
  });
});

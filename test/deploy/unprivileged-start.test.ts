import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import type { Dialect } from '../../src/config/database-url.ts';
import { createTestDatabase, dialects } from '../support/databases.ts';
import { type ComposeService, composeServices } from './compose-file.ts';
import { type ContainerProcess, containerEnvironment, containerFileSystem, localAccount, startContainer } from './container.ts';
import { type Image, interpretDockerfile } from './dockerfile.ts';
import { IMAGE_WITHOUT_MOUNT_POINTS } from './fixtures.ts';

// The server started as a container of the image would start it — the image's directories and owners, the compose
// service's environment, an unprivileged user — with the local PostgreSQL and Redis in place of the compose network's.

const CHECKOUT = join(import.meta.dirname, '..', '..');
const image = interpretDockerfile(readFileSync(join(CHECKOUT, 'Dockerfile'), 'utf8'));
const services = composeServices(readFileSync(join(CHECKOUT, 'docker-compose.yml'), 'utf8'));
const service = (name: string) => services.find((candidate) => candidate.name === name) as ComposeService;
const account = localAccount(image.user);
const REDIS_URL = 'redis://127.0.0.1:6379';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A container of `service` from `from`: its file system, and its environment with the test's database (compose's
 * PostgreSQL, or on SQLite the image's default database under /app/var) and Redis, on ephemeral 127.0.0.1 ports.
 */
async function container(dialect: Dialect, from: Image, composed: ComposeService, shared?: { root: string; databaseUrl: string | undefined }) {
  let { root, databaseUrl } = shared ?? { root: '', databaseUrl: undefined };
  if (shared === undefined) {
    if (dialect === 'postgresql') {
      const database = await createTestDatabase(dialect);
      cleanups.push(() => database.drop());
      databaseUrl = database.url;
    }
    const files = containerFileSystem(from, composed);
    cleanups.push(files.remove);
    root = files.root;
  }
  const env = containerEnvironment(from, composed, root, { DATABASE_URL: databaseUrl, REDIS_URL, HOST: '127.0.0.1', PORT: '0', MTLS_PORT: '0' });
  return { root, databaseUrl, env, start: () => startContainer(join(root, from.workdir), env, account).then(track) };
}

function track(server: ContainerProcess): ContainerProcess {
  cleanups.push(() => server.stop());
  return server;
}

/** The certificate the mTLS port presents when asked for `name`, verified against `rootPem` and the name. */
function mtlsCertificate(mtlsUrl: string, name: string, rootPem: string): Promise<PeerCertificate> {
  const { hostname, port } = new URL(mtlsUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), servername: name, ca: rootPem }, () => {
      resolve(socket.getPeerCertificate());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe.skipIf(process.getuid?.() !== 0)('the image started as an unprivileged user', () => {
  describe.each(dialects)('%s', (dialect) => {
    it(`serves api as ${account.name}, with the admin key written 0600 and an mTLS certificate that names api`, { timeout: 300_000 }, async () => {
      const api = await container(dialect, image, service('api'));
      const server = await api.start();
      const adminKeyFile = api.env['ADMIN_KEY_FILE'] ?? '';
      expect(adminKeyFile.startsWith(api.root)).toBe(true);
      const key = statSync(adminKeyFile);
      expect(key.isFile()).toBe(true);
      expect(key.mode & 0o777).toBe(0o600);
      expect(key.uid).toBe(account.uid);
      const rootPem = readFileSync(join(api.env['PKI_ROOT_DIR'] ?? '', 'root.crt'), 'utf8');
      const certificate = await mtlsCertificate(server.mtlsUrl, 'api', rootPem);
      expect(certificate.subjectaltname).toContain('DNS:api');
      await expect(mtlsCertificate(server.mtlsUrl, 'elsewhere.example', rootPem)).rejects.toThrow(/does not match|altnames/i);
      const keys = await fetch(`${server.url}/v1/keys`, { headers: { 'x-api-key': readFileSync(adminKeyFile, 'utf8').trim() } });
      expect(keys.status).toBe(200);
      expect((await fetch(`${server.url}/v1/keys`)).status).toBe(401);
    });
  });

  // The database plays no part: the start fails on the file system first.
  describe('on an image without the mount points', () => {
    it('fails with EACCES on the CA lock when the image made only /app/var (Docker made /app/var/pki root-owned)', { timeout: 120_000 }, async () => {
      const old = interpretDockerfile(IMAGE_WITHOUT_MOUNT_POINTS);
      const api = await container('sqlite', old, service('api'));
      expect(statSync(join(api.root, '/app/var/pki')).uid).toBe(0);
      await expect(api.start()).rejects.toThrow(/EACCES[^\n]*ca\.lock/);
    });

    it('fails with EACCES writing the bootstrap admin key when the image lacks /app/var/admin', { timeout: 120_000 }, async () => {
      const withoutAdmin: Image = { ...image, paths: new Map([...image.paths].filter(([path]) => path !== '/app/var/admin')) };
      const api = await container('sqlite', withoutAdmin, service('api'));
      await expect(api.start()).rejects.toThrow(/cannot write the bootstrap admin key[^\n]*EACCES/);
      expect(existsSync(api.env['ADMIN_KEY_FILE'] ?? '')).toBe(false);
    });
  });

  describe.skipIf(!dialects.includes('postgresql'))('the replicas profile', () => {
    it('starts api-2 on the database, Redis, CA and admin key api made', { timeout: 480_000 }, async () => {
      const api = await container('postgresql', image, service('api'));
      const first = await api.start();
      const adminKey = readFileSync(api.env['ADMIN_KEY_FILE'] ?? '', 'utf8').trim();
      // The named volumes both services mount are the same directories; compose starts api-2 once api is healthy.
      const replica = await container('postgresql', image, service('api-2'), api);
      const second = await replica.start();
      expect(replica.env['PKI_ROOT_DIR']).toBe(api.env['PKI_ROOT_DIR']);
      // No second admin key: api-2 found api's in the database, and accepts it.
      expect(readFileSync(api.env['ADMIN_KEY_FILE'] ?? '', 'utf8').trim()).toBe(adminKey);
      const keys = await fetch(`${second.url}/v1/keys`, { headers: { 'x-api-key': adminKey } });
      expect(keys.status).toBe(200);
      // Both present certificates of the one CA, each naming the host agents reach it at.
      const rootPem = readFileSync(join(api.env['PKI_ROOT_DIR'] ?? '', 'root.crt'), 'utf8');
      expect((await mtlsCertificate(first.mtlsUrl, 'api', rootPem)).subjectaltname).toContain('DNS:api');
      expect((await mtlsCertificate(second.mtlsUrl, 'api-2', rootPem)).subjectaltname).toContain('DNS:api-2');
    });
  });
});

import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { type ComposeService, composeServices } from './compose-file.ts';
import { dockerignoreRules, isIgnored } from './dockerignore.ts';
import { type Image, interpretDockerfile } from './dockerfile.ts';
import { IMAGE_WITHOUT_MOUNT_POINTS } from './fixtures.ts';

// The container files read the way Docker would read them (no engine runs here): the image's directories, user,
// environment and ports against what docker-compose.yml mounts, sets and publishes.

const ROOT = join(import.meta.dirname, '..', '..');
const read = (name: string) => readFileSync(join(ROOT, name), 'utf8');
const image = interpretDockerfile(read('Dockerfile'));
const services = composeServices(read('docker-compose.yml'));
/** The services that run the registry: those built from this repository's Dockerfile. */
const registries = services.filter((service) => service.build === '.');

/** The configuration a container of `service` starts with: the image's environment, then the service's. */
function containerConfig(service: ComposeService, from: Image = image) {
  return loadConfig({ ...from.env, ...service.environment }, '/nonexistent/.env');
}

/** Mount points of `service` (and the image's own VOLUMEs) that the server's user could not write to. */
function unwritableMountPoints(service: ComposeService, from: Image): string[] {
  const targets = [...service.volumes.map((volume) => volume.target), ...from.volumes];
  return targets.filter((target) => {
    const path = from.paths.get(target);
    return path?.kind !== 'directory' || path.user !== from.user;
  });
}

describe('Dockerfile and docker-compose.yml', () => {
  it('has registry services to check, and the image runs them as a user other than root', () => {
    expect(registries.map((service) => service.name)).toEqual(expect.arrayContaining(['api', 'api-2']));
    expect(image.user).not.toBe('root');
  });

  it('creates every mount point in the image, owned by the user the server runs as', () => {
    for (const service of registries) {
      expect(service.volumes.length).toBeGreaterThan(0);
      expect(unwritableMountPoints(service, image), service.name).toEqual([]);
    }
  });

  it('would have caught the image that created only /app/var (Docker makes the missing mount points root-owned)', () => {
    const old = interpretDockerfile(IMAGE_WITHOUT_MOUNT_POINTS);
    const api = registries.find((service) => service.name === 'api');
    expect(api && unwritableMountPoints(api, old)).toEqual(['/app/var/pki', '/app/var/admin']);
  });

  it('keeps the CA and the admin key on volumes, so a new container finds them', () => {
    for (const service of registries) {
      const config = containerConfig(service);
      const onVolume = (path: string) => {
        const absolute = posix.resolve(image.workdir, path);
        return service.volumes.some((volume) => absolute === volume.target || absolute.startsWith(`${volume.target}/`));
      };
      expect(onVolume(config.pkiRootDir), `${service.name}: PKI_ROOT_DIR ${config.pkiRootDir}`).toBe(true);
      expect(onVolume(config.adminKeyFile), `${service.name}: ADMIN_KEY_FILE ${config.adminKeyFile}`).toBe(true);
    }
  });

  it('exposes and publishes every port the server listens on', () => {
    for (const service of registries) {
      const config = containerConfig(service);
      const listening = [config.port, ...(config.mtlsEnabled ? [config.mtlsPort] : []), ...(config.metricsPort === undefined ? [] : [config.metricsPort])];
      expect(image.exposed).toEqual(expect.arrayContaining(listening));
      expect(service.ports.map((port) => port.target).sort(), service.name).toEqual([...listening].sort());
      // Published for this host only: the compose file is for a machine, not a public interface.
      expect(service.ports.every((port) => port.host === '127.0.0.1'), service.name).toBe(true);
    }
    const published = registries.flatMap((service) => service.ports.map((port) => port.published));
    expect(new Set(published).size).toBe(published.length);
  });

  it('issues the mTLS certificate for the names agents in the compose network use', () => {
    for (const service of registries) {
      expect(containerConfig(service).mtlsHostnames, service.name).toEqual(expect.arrayContaining([service.name, 'localhost', '127.0.0.1']));
    }
  });

  it('starts the image alone (docker run) with API keys required and the admin key under /app/var', () => {
    const config = loadConfig(image.env, '/nonexistent/.env');
    expect(config.environment).toBe('production');
    expect(config.apiKeyEnabled).toBe(true);
    expect(posix.resolve(image.workdir, config.adminKeyFile).startsWith('/app/var/')).toBe(true);
  });

  it('describes a replicas profile: a second registry on the same PostgreSQL, Redis, CA and admin key volume', () => {
    const api = registries.find((service) => service.name === 'api');
    const replicas = registries.filter((service) => service.profiles.includes('replicas'));
    expect(api?.profiles).toEqual([]);
    expect(replicas.map((service) => service.name)).toEqual(['api-2']);
    for (const replica of replicas) {
      const [first, second] = [containerConfig(api as ComposeService), containerConfig(replica)];
      expect(second.databaseUrl).toBe(first.databaseUrl);
      expect(first.databaseUrl).toMatch(/^postgresql:/);
      expect(second.redisUrl).toBe(first.redisUrl);
      expect(second.redisUrl).toMatch(/^redis:/);
      expect(second.pkiRootDir).toBe(first.pkiRootDir);
      expect(second.adminKeyFile).toBe(first.adminKeyFile);
      expect(replica.volumes).toEqual(api?.volumes);
      // The first creates the CA, the schema and the admin key; the replica starts once it is healthy.
      expect(replica.dependsOn).toEqual({ api: 'service_healthy' });
    }
  });

  it('.dockerignore sends what the Dockerfile copies and leaves out node_modules, dist, var, .env and .git', () => {
    const rules = dockerignoreRules(read('.dockerignore'));
    expect(image.contextSources.length).toBeGreaterThan(0);
    for (const source of image.contextSources) {
      expect(isIgnored(rules, source), source).toBe(false);
      expect(isIgnored(rules, `${source}/any/file.ts`), `${source}/...`).toBe(false);
    }
    for (const secret of ['node_modules/pg/package.json', 'dist/src/cli/bin.js', 'var/pki/root.key', 'var/admin.key', '.env', '.git/config', 'test/deploy/image.test.ts']) {
      expect(isIgnored(rules, secret), secret).toBe(true);
    }
  });
});

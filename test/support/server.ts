import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRouterTransport, type Transport } from '@connectrpc/connect';
import { configWith } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Dialect } from '../../src/config/database-url.ts';
import { type App, createApp } from '../../src/server/app.ts';
import { apiInterceptors } from '../../src/server/interceptors.ts';
import { routes } from '../../src/server/routes.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { createTestDatabase } from './databases.ts';

export interface TestEnvironment {
  readonly config: Config;
  readonly dir: string;
  cleanup(): Promise<void>;
}

/** A fresh database and CA directory for one suite. */
export async function testEnvironment(dialect: Dialect, overrides: Partial<Config> = {}): Promise<TestEnvironment> {
  const dir = mkdtempSync(join(tmpdir(), 'atr-test-'));
  const database = await createTestDatabase(dialect);
  const config = configWith({
    host: '127.0.0.1',
    port: 0,
    mtlsPort: 0,
    databaseUrl: database.url,
    pkiRootDir: join(dir, 'pki'),
    keysRootDir: join(dir, 'keys'),
    adminKeyFile: join(dir, 'admin.key'),
    // Warnings and failures only: an access line per call would bury the test output (test/log checks them).
    logLevel: 'warn',
    ...overrides,
  });
  return {
    config,
    dir,
    async cleanup() {
      await database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The app with its services behind an in-process Connect transport (the same interceptors as the server). */
export async function inProcessApp(
  dialect: Dialect,
  overrides: Partial<Config> = {},
): Promise<{ app: App; transport: Transport; cleanup(): Promise<void> }> {
  const environment = await testEnvironment(dialect, overrides);
  const app = await createApp(environment.config);
  const transport = createRouterTransport(routes(app), { router: { interceptors: apiInterceptors(app, 'public') } });
  return {
    app,
    transport,
    async cleanup() {
      await app.close();
      await environment.cleanup();
    },
  };
}

/** A real server on an ephemeral port. */
export async function runningServer(
  dialect: Dialect,
  overrides: Partial<Config> = {},
): Promise<{ server: RunningServer; environment: TestEnvironment; cleanup(): Promise<void> }> {
  const environment = await testEnvironment(dialect, overrides);
  const server = await startServer(environment.config);
  return {
    server,
    environment,
    async cleanup() {
      await server.close();
      await environment.cleanup();
    },
  };
}

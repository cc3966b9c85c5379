import { loadConfig } from '../config/load.ts';
import type { Command } from './command.ts';

const serve: Command = {
  name: 'serve',
  synopsis: '',
  summary: 'run the registry (configured by environment and .env; see `atr config`) until SIGINT or SIGTERM',
  options: {},
  arity: 0,
  async run({ out }) {
    const config = loadConfig();
    // Loaded here, not at the top: client commands should not pay for the database, CA and logging modules.
    const { startServer } = await import('../server/server.ts');
    const { createLogger } = await import('../log/process-logger.ts');
    const logger = createLogger(config);
    const server = await startServer(config, logger);
    out.line(`ATR listening on ${server.url}`);
    if (server.mtlsUrl) out.line(`agents (mTLS) on ${server.mtlsUrl}`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    out.line(`${signal}: shutting down`);
    logger.info({ signal }, 'shutting down');
    await server.close();
    return 0;
  },
};

const worker: Command = {
  name: 'worker',
  synopsis: '',
  summary: 'run background jobs only (lifecycle sweeps and queued work), no listeners, beside `atr serve` processes on the same database and Redis, until SIGINT or SIGTERM',
  options: {},
  arity: 0,
  async run({ out }) {
    const config = { ...loadConfig(), workersEnabled: true };
    const { createApp } = await import('../server/app.ts');
    const { createLogger } = await import('../log/process-logger.ts');
    const logger = createLogger(config);
    const app = await createApp(config, logger);
    out.line(`ATR worker running jobs from the ${app.jobs.queue.kind === 'redis' ? 'Redis' : 'database'} queue`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    out.line(`${signal}: finishing running jobs and stopping`);
    await app.close();
    return 0;
  },
};

export const serveCommands: readonly Command[] = [serve, worker];

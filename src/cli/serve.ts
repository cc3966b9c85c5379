import { loadConfig } from '../config/load.ts';
import { type Command, integerOption } from './command.ts';

const serve: Command = {
  name: 'serve',
  synopsis: '[--workers N]',
  summary:
    'run the registry (configured by environment and .env; see `atr config`) until SIGINT or SIGTERM; --workers N answers ' +
    'with N processes on the same ports (default SERVER_WORKERS, else one per core on PostgreSQL and one on SQLite)',
  options: { workers: { type: 'string' } },
  arity: 0,
  async run({ values, out }) {
    const config = loadConfig();
    const requested = integerOption(values, 'workers');
    // Loaded here, not at the top: client commands should not pay for the database, CA and logging modules.
    const { isWorker, runPrimary, runWorker, workerCount } = await import('../server/cluster.ts');
    const { createLogger } = await import('../log/process-logger.ts');
    const logger = createLogger(config);
    if (isWorker()) return runWorker(config, logger);
    const count = workerCount(config, requested);
    if (count > 1) return runPrimary(config, count, logger, (line) => out.line(line));
    const { startServer } = await import('../server/server.ts');
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

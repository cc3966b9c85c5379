import { loadConfig } from '../config/load.ts';
import { type Invocation, integerOption } from './command.ts';

export async function serve({ values, out }: Invocation): Promise<number> {
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
}

export async function worker({ out }: Invocation): Promise<number> {
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
}


import { loadConfig } from '../config/load.ts';
import { type Invocation, UsageError, flagOption, integerOption, stringOption } from './command.ts';
import { DEFAULT_SEED_CAPABILITIES } from './defaults.ts';

/** How often progress is reported when stderr is not a terminal. */
const PLAIN_PROGRESS_MS = 5000;

export async function seed({ values, out }: Invocation): Promise<number> {
  const agents = integerOption(values, 'agents');
  if (agents === undefined || agents < 1) throw new UsageError('--agents N is required (N >= 1)');
  const owners = integerOption(values, 'owners') ?? 100;
  if (owners < 1) throw new UsageError('--owners must be at least 1');
  const revokedPercent = integerOption(values, 'revoked-percent') ?? 2;
  if (revokedPercent > 100) throw new UsageError('--revoked-percent must be from 0 to 100');
  const capabilities = (stringOption(values, 'capabilities') ?? DEFAULT_SEED_CAPABILITIES.join(',')).split(',').filter((item) => item !== '');
  if (capabilities.length === 0) throw new UsageError('--capabilities needs at least one capability');
  const config = loadConfig();
  if (config.environment === 'production' && !flagOption(values, 'allow-production')) {
    out.line('refused: ATR_ENV=production; seeding writes thousands of made-up agents (--allow-production if this is meant)');
    return 1;
  }
  // Loaded here, not at the top: the other commands should not pay for the database, CA and worker modules.
  const { checkCapabilities } = await import('../registry/fields.ts');
  checkCapabilities(capabilities);
  const { SeedRefused, seedAgents } = await import('../db/seed.ts');
  const progress = new Progress(agents);
  const append = flagOption(values, 'append');
  try {
    const summary = await seedAgents(config, { agents, owners, capabilities, revokedPercent, append, onProgress: (done) => progress.update(done) });
    progress.done();
    out.fields([
      ['seeded', `${summary.seeded} agents (${summary.revoked} revoked) over ${Math.min(owners, agents)} owners`],
      ['existing', summary.existing > 0 ? `${summary.existing} agents before (--append)` : 'none'],
      ['log size', summary.logSize > 0 ? `${summary.logSize} leaves, checkpoint published` : 'log off'],
      ['time', `${summary.seconds.toFixed(1)} s, ${Math.round(summary.seeded / summary.seconds)} agents/s`],
    ]);
    return 0;
  } catch (error) {
    progress.done();
    if (error instanceof SeedRefused) {
      out.line(`refused: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

/** A bar redrawn in place on a terminal; a plain line every few seconds otherwise (logs, CI). */
class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = performance.now();
  private lastLine = 0;

  constructor(private readonly total: number) {}

  update(done: number): void {
    const seconds = (performance.now() - this.started) / 1000;
    const rate = done / Math.max(seconds, 0.001);
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const text = `${done}/${this.total} agents, ${Math.round(rate)}/s, ${formatDuration(eta)} left`;
    if (this.tty) {
      const width = 30;
      const filled = Math.round((done / this.total) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor((done / this.total) * 100)}% ${text}\x1b[K`);
    } else if (performance.now() - this.lastLine >= PLAIN_PROGRESS_MS || done === this.total) {
      this.lastLine = performance.now();
      process.stderr.write(`seeding: ${text}\n`);
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}

function formatDuration(seconds: number): string {
  const whole = Math.ceil(seconds);
  return whole >= 60 ? `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s` : `${whole}s`;
}


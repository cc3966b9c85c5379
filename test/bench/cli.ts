// The CLI's start-up as a user feels it: whole processes of the compiled `atr` (dist/, as npm installs it), timed
// from spawn to exit, beside a bare `node` process started the same way, in alternating turns.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCli } from '../../src/cli/build.ts';

export interface CliRow {
  readonly command: string;
  readonly runs: number;
  readonly medianMs: number;
  readonly p90Ms: number;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The package's bin, as npm links it. */
const BIN = join(ROOT, 'dist/cli/atr.js');

/** Compiles src/ to dist/ (incremental) and bundles the bin, so the processes timed run the code as it is. */
async function build(): Promise<void> {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  await buildCli();
}

export async function measureCli({ server, runs }: { server: string; runs: number }): Promise<CliRow[]> {
  await build();
  const cwd = mkdtempSync(join(tmpdir(), 'atr-bench-cli-'));
  const env = { ...process.env, KEYS_ROOT_DIR: join(cwd, 'keys'), ATR_SERVER: server };
  try {
    const atr = (...args: string[]) => [BIN, ...args];
    const registered = spawnSync(process.execPath, atr('agents', 'register', 'cli.bench.example', '--owner', 'bench'), { cwd, env });
    if (registered.status !== 0) throw new Error(`atr agents register failed: ${registered.stderr.toString()}`);
    const commands: [string, string[]][] = [
      ['node (a bare process, the floor)', ['-e', '0']],
      ['atr --version', atr('--version')],
      ['atr --help', atr('--help')],
      ['atr resolve <name>', atr('resolve', 'cli.bench.example')],
      ['atr agents get <name> --json', atr('agents', 'get', 'cli.bench.example', '--json')],
    ];
    const times = commands.map((): number[] => []);
    for (let run = 0; run < runs; run += 1) {
      for (const [i, [label, args]] of commands.entries()) {
        const started = process.hrtime.bigint();
        const result = spawnSync(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
        if (result.status !== 0) throw new Error(`${label} exited ${result.status}: ${result.stderr.toString()}`);
        times[i]!.push(elapsed);
      }
    }
    return commands.map(([command], i) => {
      const sorted = [...times[i]!].sort((a, b) => a - b);
      const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
      return { command, runs, medianMs: at(0.5), p90Ms: at(0.9) };
    });
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

export function cliTable(rows: readonly CliRow[]): { caption: string; table: string[][] } {
  return {
    caption: `\nCLI start-up: the package's atr bin (dist/cli/atr.js, built first) as whole processes against the registry process above, ${rows[0]?.runs ?? 0} runs each in alternating turns, spawn to exit`,
    table: [['command', 'median', 'p90'], ...rows.map((row) => [row.command, `${row.medianMs} ms`, `${row.p90Ms} ms`])],
  };
}

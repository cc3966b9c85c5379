import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Node's arguments that run `atr` from the sources through tsx, so a test sees the code as it is without a
 * build; test/package runs the compiled bin of the packed package, as a user installs it.
 */
export const ATR_NODE_ARGS: readonly string[] = [
  // By URL: a child in another working directory would not find the package name.
  '--import',
  import.meta.resolve('tsx'),
  fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url)),
];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What tells the CLI where the registry is and how to reach it, when no option says. */
const CLI_DEFAULTS = ['ATR_SERVER', 'ATR_API_KEY', 'ATR_MTLS_SERVER', 'ATR_CACERT', 'HOST', 'PORT', 'MTLS_PORT', 'PUBLIC_TLS', 'TLS_CERT_FILE', 'TLS_KEY_FILE'];

/** Runs `atr` as a user would: a child process in `cwd`, with none of the CLI's defaults set unless `env` sets them. */
export async function runAtr(args: readonly string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const name of CLI_DEFAULTS) if (!(name in env)) delete childEnv[name];
  try {
    const { stdout, stderr } = await run(process.execPath, [...ATR_NODE_ARGS, ...args], { cwd, env: childEnv });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

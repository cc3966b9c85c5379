import { existsSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { type Config, type Setting, settings } from './schema.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the configuration from the environment, with `.env` (in the working directory) filling in what the
 * environment does not set. Every invalid value is reported at once, each with the rule it broke.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, dotenvPath = '.env'): Config {
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings) as [string, Setting<unknown>][]) {
    const raw = env[setting.env] ?? fromFile[setting.env] ?? setting.default;
    if (raw === undefined || raw === '') {
      values[key] = setting.default === undefined ? undefined : setting.parse(setting.default);
      continue;
    }
    try {
      values[key] = setting.parse(raw);
    } catch (error) {
      problems.push(`${setting.env}=${setting.secret ? '(secret)' : JSON.stringify(raw)}: ${(error as Error).message}`);
    }
  }
  if (values['environment'] === 'production' && values['apiKeyEnabled'] !== true) {
    problems.push('ATR_ENV=production needs API_KEY_ENABLED=true: a production registry does not take anonymous writes');
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return values as unknown as Config;
}

/** The configuration with some values replaced, for tests and embedding. */
export function configWith(overrides: Partial<Config>, env: Record<string, string | undefined> = {}): Config {
  return { ...loadConfig(env, '/nonexistent/.env'), ...overrides };
}

/** The README's configuration table, rendered from the schema. */
export function configurationTable(): string {
  const rows = Object.values(settings).map(
    (s: Setting<unknown>) => `| \`${s.env}\` | ${s.default === undefined ? '(unset)' : `\`${s.default}\``} | ${s.doc} |`,
  );
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Where the server is reached, for the CRL distribution point and the CLI. */
export function publicBaseUrl(config: Config): string {
  const scheme = publicTlsMode(config) === 'off' ? 'http' : 'https';
  return config.publicUrl ?? `${scheme}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

/** PUBLIC_TLS, or when unset: files when TLS_CERT_FILE or TLS_KEY_FILE is set, else off. */
export function publicTlsMode(config: Pick<Config, 'publicTls' | 'tlsCertFile' | 'tlsKeyFile'>): 'off' | 'files' | 'registry' {
  return config.publicTls ?? (config.tlsCertFile !== undefined || config.tlsKeyFile !== undefined ? 'files' : 'off');
}

// Where the CLI finds the registry when no option says: the environment, then `.env` in the working directory —
// the same file and variables `atr serve` reads — so a CLI run beside a server talks to that server.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseDotenv } from 'dotenv';
import { publicTlsMode } from '../config/load.ts';
import { type Config, settings } from '../config/schema.ts';
import { DEFAULT_MTLS_PORT } from './defaults.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

/** The environment with `.env` filling in what it does not set, as the server reads them. */
export function cliEnvironment(env: Environment = process.env, dotenvPath = '.env'): Environment {
  const fromFile = existsSync(dotenvPath) ? parseDotenv(readFileSync(dotenvPath)) : {};
  return { ...fromFile, ...definedOnly(env) };
}

/**
 * The registry's public URL: ATR_SERVER, else the server's own HOST and PORT (a wildcard HOST means this machine),
 * over https when the server's public listener has TLS.
 */
export function defaultServer(env: Environment): string {
  if (env['ATR_SERVER']) return env['ATR_SERVER'];
  const setting = (name: string) => env[name] || undefined;
  const tls = publicTlsMode({
    publicTls: setting(settings.publicTls.env) as Config['publicTls'],
    tlsCertFile: setting(settings.tlsCertFile.env),
    tlsKeyFile: setting(settings.tlsKeyFile.env),
  });
  const scheme = tls === 'off' ? 'http' : 'https';
  return `${scheme}://${hostOf(env[settings.host.env] || settings.host.default || '')}:${env[settings.port.env] || String(settings.port.default)}`;
}

/** The registry's mTLS listener: ATR_MTLS_SERVER, else the public server's host on the server's MTLS_PORT. */
export function defaultMtlsServer(env: Environment, server: string): string {
  if (env['ATR_MTLS_SERVER']) return env['ATR_MTLS_SERVER'];
  return `https://${new URL(server).host.replace(/:\d+$/, '')}:${env[settings.mtlsPort.env] || DEFAULT_MTLS_PORT}`;
}

/**
 * The API key the CLI calls with: --api-key, else ATR_API_KEY, else the bootstrap admin key file a local server
 * wrote (ADMIN_KEY_FILE, ./var/admin.key by default) when it exists; none otherwise.
 */
export function apiKeyFor(option: string | undefined, env: Environment): string | undefined {
  if (option !== undefined && option !== '') return option;
  if (env['ATR_API_KEY']) return env['ATR_API_KEY'];
  const file = env[settings.adminKeyFile.env] || settings.adminKeyFile.default || '';
  return file !== '' && existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** A listening address as a URL host: wildcards become loopback, IPv6 gets brackets. */
function hostOf(listen: string): string {
  if (listen === '0.0.0.0' || listen === '') return '127.0.0.1';
  if (listen === '::') return '[::1]';
  return listen.includes(':') ? `[${listen}]` : listen;
}

function definedOnly(env: Environment): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

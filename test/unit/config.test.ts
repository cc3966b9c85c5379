import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configurationTable, loadConfig, publicBaseUrl } from '../../src/config/load.ts';
import { settings } from '../../src/config/schema.ts';

const noDotenv = '/nonexistent/.env';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({}, noDotenv);
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      databaseUrl: 'sqlite:///./var/atr.db',
      pkiRootDir: './var/pki',
      keysRootDir: './var/keys',
      caValidityDays: 3650,
      certValidityDays: 30,
      trustDomain: 'atr.local',
    });
    expect(config.caKeyPassphrase).toBeUndefined();
    expect(publicBaseUrl(config)).toBe('http://127.0.0.1:8000');
    expect(Object.keys(config).sort()).toEqual(Object.keys(settings).sort());
  });

  it('reports every invalid value at once, each with its rule, and never echoes a secret', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: '70000', CERT_VALIDITY_DAYS: 'ten', DATABASE_URL: 'mysql://x', TRUST_DOMAIN: 'Bad Domain' }, noDotenv);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT="70000": must be a whole number from 0 to 65535');
    expect(message).toContain('CERT_VALIDITY_DAYS="ten": must be a whole number from 1 to 3650');
    expect(message).toContain('DATABASE_URL="mysql://x": must start with sqlite: or postgresql://');
    expect(message).toContain('TRUST_DOMAIN="Bad Domain"');
  });

  it('reads .env, and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atr-config-'));
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, 'PORT=9100\nTRUST_DOMAIN=example.org\n');
    expect(loadConfig({}, dotenv)).toMatchObject({ port: 9100, trustDomain: 'example.org' });
    expect(loadConfig({ PORT: '9200' }, dotenv)).toMatchObject({ port: 9200, trustDomain: 'example.org' });
  });

  it('keeps the README configuration table in step with the schema', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme)?.[1];
    expect(table, 'README.md has the generated table between config-table markers (atr config)').toBe(configurationTable());
  });
});

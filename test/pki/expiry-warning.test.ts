// The CA's expiry as operators see it: a warning line at start while the intermediate (or the root) has fewer than
// CA_EXPIRY_WARNING_DAYS left, the expiries as metrics, and a line when the server picks up a rotation on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateIntermediate } from '../../src/pki/intermediate-rotation.ts';
import { type RunningServer, startServer } from '../../src/server/server.ts';
import { dialects } from '../support/databases.ts';
import { recordingLogger } from '../support/logger.ts';
import { type TestEnvironment, testEnvironment } from '../support/server.ts';

const DAY_S = 24 * 60 * 60;

describe.each(dialects)('CA expiry warnings on %s', (dialect) => {
  let environment: TestEnvironment;
  let server: RunningServer;
  const { logger, lines } = recordingLogger();

  beforeAll(async () => {
    // A root of 10 days and an intermediate of 5, both inside a 30-day warning window.
    environment = await testEnvironment(dialect, { caValidityDays: 10, caExpiryWarningDays: 30, mtlsEnabled: false });
    server = await startServer(environment.config, logger);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await environment?.cleanup();
  });

  it('warns at start, exposes the expiries and logs a rotation it finds on disk', async () => {
    const warnings = lines.filter((line) => line.level === 'warn' && line.fields['component'] === 'ca');
    expect(warnings.map((line) => [line.fields['certificate'], line.fields['daysLeft']])).toEqual([['intermediate', 4], ['root', 9]]);
    expect(warnings[0]?.message).toBe('the intermediate CA expires in 4 days: run atr ca rotate-intermediate');

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const seconds = Number(metrics.match(/atr_ca_intermediate_expiry_seconds\{serial="[0-9a-f]+"\} (\d+)/)?.[1]);
    expect(seconds).toBeGreaterThan(4.9 * DAY_S);
    expect(seconds).toBeLessThanOrEqual(5 * DAY_S);
    expect(metrics).toMatch(/atr_ca_root_expiry_seconds\{serial="[0-9a-f]+"\} \d+/);

    const { config } = environment;
    const { next } = await rotateIntermediate({
      dir: config.pkiRootDir,
      rootPassphrase: undefined,
      passphrase: undefined,
      trustDomain: config.trustDomain,
      validityDays: config.caValidityDays,
    });
    // Nothing here issues or verifies, so only the server's own look at PKI_ROOT_DIR (every second) finds it.
    const changed = await eventually(() => lines.some((line) => line.level === 'info' && line.fields['component'] === 'ca'));
    expect(changed).toBe(true);
    expect(server.app.ca.intermediate.fingerprint256).toBe(next.fingerprint256);
    expect(server.app.ca.intermediates).toHaveLength(2);
  }, 60_000);
});

/** Asks until `check` holds, for at most 20 s (the server looks at its files on its own schedule). */
async function eventually(check: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

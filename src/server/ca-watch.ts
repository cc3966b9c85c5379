import type { X509Certificate } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { serialOf } from '../pki/fingerprint.ts';
import type { App } from './app.ts';

/** How often PKI_ROOT_DIR is looked at (one stat of intermediate.crt) for a rotation made elsewhere. */
const REFRESH_MS = 1_000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Keeps this process's CA in step with PKI_ROOT_DIR and tells operators about it. An intermediate rotated by `atr ca
 * rotate-intermediate` is loaded within a second here (issuance and verification also look on their own, so they
 * never wait for this), logged, and trusted by the mTLS listener, which watches the CA too. At start and daily, a
 * warning while the current intermediate or the root has fewer than CA_EXPIRY_WARNING_DAYS left; both expiries are
 * metrics. Returns the function that stops it.
 */
export function watchCa(app: App, logger: Logger, everyMs = REFRESH_MS): () => void {
  const { ca } = app;
  const log = logger.child({ component: 'ca' });
  const warnIfExpiring = () => {
    const warnBefore = Date.now() + app.config.caExpiryWarningDays * DAY_MS;
    for (const [which, certificate] of [['intermediate', ca.intermediate], ['root', ca.root]] as const) {
      const notAfter = new Date(certificate.validTo);
      if (notAfter.getTime() >= warnBefore) continue;
      const daysLeft = Math.max(0, Math.floor((notAfter.getTime() - Date.now()) / DAY_MS));
      const remedy = which === 'intermediate' ? 'run atr ca rotate-intermediate' : 'plan a new root and hand its trust bundle to every relying party';
      log.warn({ certificate: which, serial: serialOf(certificate), notAfter: notAfter.toISOString(), daysLeft }, `the ${which} CA expires in ${daysLeft} days: ${remedy}`);
    }
  };
  const stopWatching = ca.watch({
    changed: () => {
      log.info({ intermediate: ca.current.serial, notAfter: ca.intermediate.validTo, intermediates: ca.intermediates.map((each) => each.serial) }, 'the CA changed in PKI_ROOT_DIR: new certificates come from the new intermediate, earlier ones stay trusted until they expire');
      warnIfExpiring();
    },
    failed: (error) => log.error({ err: error }, 'cannot load the CA as PKI_ROOT_DIR now holds it; serving the one loaded before'),
  });
  const poll = setInterval(() => ca.refresh(), everyMs);
  poll.unref();
  warnIfExpiring();
  const daily = setInterval(warnIfExpiring, DAY_MS);
  daily.unref();
  const secondsLeft = (certificate: X509Certificate) => Math.round((Date.parse(certificate.validTo) - Date.now()) / 1000);
  app.metrics.addSources({
    caIntermediateExpiry: () => Object.fromEntries(ca.intermediates.map((each) => [each.serial, secondsLeft(each.certificate)])),
    caRootExpiry: () => ({ [serialOf(ca.root)]: secondsLeft(ca.root) }),
  });
  return () => {
    stopWatching();
    clearInterval(poll);
    clearInterval(daily);
  };
}

import type { RevocationEvent } from '../../src/registry/revocation-feed.ts';
import type { App } from '../../src/server/app.ts';

/** The first event of the app's revocation feed for `fingerprint`, or undefined after `timeoutMs`. */
export function eventWithin(app: App, fingerprint: string, timeoutMs: number): Promise<RevocationEvent | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unsubscribe();
      resolve(undefined);
    }, timeoutMs);
    const unsubscribe = app.revocations.subscribe((event) => {
      if (event.fingerprint !== fingerprint) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}

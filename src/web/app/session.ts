// The signed-in API key lives in sessionStorage only: gone when the tab closes, never in localStorage, a cookie
// or a URL. Every call goes to the registry (this page's own origin unless the build named another) over
// Connect-Web, with the key when there is one.
import { type RegistryClient, createBrowserRegistryClient } from '../../sdk/browser.ts';

const STORAGE_KEY = 'atr.apiKey';
let cached: { key: string | undefined; client: RegistryClient } | undefined;

export function currentKey(): string | undefined {
  return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
}

export function signIn(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key.trim());
}

export function signOut(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

// Set at build time when the UI is served from another origin than the registry's (src/web/build.ts).
const baseUrl = document.querySelector<HTMLMetaElement>('meta[name="atr-api-base-url"]')?.content || location.origin;

/** The registry's clients as the signed-in user (or anonymous). */
export function api(): RegistryClient {
  const key = currentKey();
  if (cached === undefined || cached.key !== key) {
    cached = { key, client: createBrowserRegistryClient({ baseUrl, apiKey: key }) };
  }
  return cached.client;
}

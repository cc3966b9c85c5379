/** The roles an API key can have. */
export type Role = 'admin' | 'owner' | 'reader';
export const ROLES: readonly Role[] = ['admin', 'owner', 'reader'];

/** Who a request acts as, decided once per request by the authentication interceptor. */
export type Principal =
  | { readonly kind: 'key'; readonly keyId: string; readonly role: Role; readonly owner: string | undefined }
  | { readonly kind: 'agent'; readonly name: string }
  | { readonly kind: 'anonymous' };

/** The principal as one stable string: `key:<id>`, `agent:<name>` or `anonymous`. */
export function principalId(principal: Principal): string {
  if (principal.kind === 'key') return `key:${principal.keyId}`;
  if (principal.kind === 'agent') return `agent:${principal.name}`;
  return 'anonymous';
}

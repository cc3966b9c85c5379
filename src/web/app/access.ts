// What the signed-in caller may do (GetCallerAccess), so pages offer only the actions the server would allow.
// The server still decides every call; this only keeps the UI honest about it.
import type { GetCallerAccessResponse } from '../../sdk/browser.ts';
import { api } from './session.ts';

export type Access = Pick<GetCallerAccessResponse, 'principal' | 'keysRequired' | 'publicReads' | 'permissions'> & {
  readonly owner: string;
  readonly role: string;
};

let current: Promise<Access> | undefined;

export function callerAccess(): Promise<Access> {
  current ??= api()
    .keys.getCallerAccess({})
    .then((answer) => ({
      principal: answer.principal,
      keysRequired: answer.keysRequired,
      publicReads: answer.publicReads,
      permissions: answer.permissions,
      owner: answer.apiKey?.owner ?? '',
      role: roleName(answer.apiKey?.role ?? 0),
    }))
    .catch((error: unknown) => {
      current = undefined;
      throw error;
    });
  return current;
}

/** The window event sent when the caller changed (signed in or out). */
export const ACCESS_CHANGED = 'atr-access-changed';

/** After signing in or out: the next callerAccess() asks again, and the header updates. */
export function accessChanged(): void {
  current = undefined;
  window.dispatchEvent(new Event(ACCESS_CHANGED));
}

export function may(access: Access, permission: 'public_read' | 'read' | 'write' | 'write_own' | 'manage_keys'): boolean {
  return access.permissions.includes(permission);
}

/** Whether the caller may change agents of this owner. */
export function mayWrite(access: Access, owner: string): boolean {
  return may(access, 'write') || (may(access, 'write_own') && access.owner === owner);
}

function roleName(role: number): string {
  return ['', 'admin', 'owner', 'reader'][role] ?? '';
}

/** The permissions in words, for the sign-in panel. */
export const PERMISSION_TEXT: Record<string, string> = {
  public_read: 'resolve agents, verify certificates and tokens, read the transparency log',
  read: 'list and read agents, their certificates and the audit trail',
  write: 'register, rotate, revoke and update any agent',
  write_own: "register, rotate, revoke and update its owner's agents",
  manage_keys: 'create, list and revoke API keys',
};

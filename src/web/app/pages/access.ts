// Sign in with an API key (kept in sessionStorage only), see what it may do, and, for an admin, manage API keys.
import { ApiKeyRole, type ApiKey } from '../../../sdk/browser.ts';
import { type Access, PERMISSION_TEXT, accessChanged, callerAccess, may } from '../access.ts';
import { confirmDialog } from '../confirm.ts';
import { field, h, heading, show } from '../dom.ts';
import { api, currentKey, signIn, signOut } from '../session.ts';
import { act, empty, load } from '../states.ts';

export async function accessPage(view: HTMLElement): Promise<void> {
  const who = h('section', { 'aria-labelledby': 'who-heading' });
  const keys = h('section', { 'aria-labelledby': 'keys-heading' });
  show(view, heading('Access'), signInForm(() => void accessPage(view)), who, keys);
  await load(who, 'your access', async () => {
    const access = await callerAccess();
    if (may(access, 'manage_keys')) void keyManagement(keys);
    return describeAccess(access);
  });
}

function signInForm(changed: () => void): HTMLElement {
  const key = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', spellcheck: 'false', placeholder: 'atr_…' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const status = h('div');
  const signedIn = currentKey() !== undefined;
  const form = h(
    'form',
    {
      'aria-label': 'Sign in with an API key',
      onsubmit: (event: Event) => {
        event.preventDefault();
        if (key.value.trim() === '') return key.focus();
        void act(submit, status, async () => {
          signIn(key.value);
          accessChanged();
          try {
            await callerAccess();
          } catch (error) {
            // A key the server refuses is not kept.
            signOut();
            accessChanged();
            throw error;
          }
          changed();
          return '';
        });
      },
    },
    field('API key', key, 'Kept in this tab only (sessionStorage) and sent to this registry alone'),
    h(
      'div',
      { class: 'actions' },
      submit,
      signedIn
        ? h('button', { type: 'button', class: 'secondary', onclick: () => (signOut(), accessChanged(), changed()) }, 'Sign out')
        : undefined,
    ),
    status,
  );
  return form;
}

function describeAccess(access: Access): HTMLElement {
  return h(
    'div',
    { class: 'panel' },
    h('h2', { id: 'who-heading' }, 'You are'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Principal'),
      h('dd', {}, h('code', {}, access.principal)),
      access.role ? [h('dt', {}, 'Role'), h('dd', {}, access.role)] : undefined,
      access.owner ? [h('dt', {}, 'Owner'), h('dd', {}, access.owner)] : undefined,
      h('dt', {}, 'API keys'),
      h('dd', {}, access.keysRequired ? `required for changes${access.publicReads ? '' : ' and for every read'}` : 'not required by this registry'),
    ),
    h('h2', {}, 'You may'),
    access.permissions.length === 0
      ? empty('Nothing without a key: sign in.')
      : h('ul', { class: 'permissions' }, access.permissions.map((p) => h('li', { 'data-permission': p }, PERMISSION_TEXT[p] ?? p))),
  );
}

const ROLES: readonly (readonly [ApiKeyRole, string])[] = [
  [ApiKeyRole.READER, 'reader'],
  [ApiKeyRole.OWNER, 'owner'],
  [ApiKeyRole.ADMIN, 'admin'],
];
const roleName = (role: ApiKeyRole) => ROLES.find(([value]) => value === role)?.[1] ?? 'unknown';

async function keyManagement(section: HTMLElement): Promise<void> {
  const list = h('div');
  const includeRevoked = h('input', { type: 'checkbox', id: 'include-revoked', onchange: () => void refresh() });
  const refresh = () => load(list, 'API keys', async () => keyTable(await api().keys.listApiKeys({ includeRevoked: includeRevoked.checked }), refresh));
  show(
    section,
    h('h2', { id: 'keys-heading' }, 'API keys'),
    createKeyForm(() => void refresh()),
    h('div', { class: 'actions' }, includeRevoked, h('label', { for: includeRevoked.id }, 'Show revoked keys')),
    list,
  );
  await refresh();
}

function keyTable({ apiKeys }: { apiKeys: ApiKey[] }, refresh: () => Promise<void>): HTMLElement {
  if (apiKeys.length === 0) return empty('No API keys.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', { class: 'visually-hidden' }, 'API keys'),
      h('thead', {}, h('tr', {}, ['Key', 'Role', 'Owner', 'Description', 'Created', 'State', ''].map((title) => h('th', { scope: 'col' }, title)))),
      h(
        'tbody',
        {},
        apiKeys.map((key) => {
          const status = h('div');
          const revoke = h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke key ${key.keyId}` }, 'Revoke');
          revoke.addEventListener('click', async () => {
            if (!(await confirmDialog(`Revoke key ${key.keyId}?`, 'Every request that presents it is refused from now on. This cannot be undone.', 'Revoke', true))) return;
            await act(revoke, status, async () => {
              await api().keys.revokeApiKey({ keyId: key.keyId });
              await refresh();
              return '';
            });
          });
          return h(
            'tr',
            { 'data-key-id': key.keyId },
            h('td', {}, h('code', {}, key.keyId)),
            h('td', {}, roleName(key.role)),
            h('td', {}, key.owner),
            h('td', {}, key.description),
            h('td', {}, key.createdAt ? new Date(Number(key.createdAt.seconds) * 1000).toLocaleString() : ''),
            h('td', {}, key.revokedAt ? h('span', { class: 'badge revoked' }, 'revoked') : h('span', { class: 'badge active' }, 'active')),
            h('td', {}, key.revokedAt ? '' : [revoke, status]),
          );
        }),
      ),
    ),
  );
}

function createKeyForm(created: () => void): HTMLElement {
  const role = h('select', { name: 'role' }, ROLES.map(([value, label]) => h('option', { value: String(value) }, label)));
  const owner = h('input', { name: 'owner', autocomplete: 'off' });
  const description = h('input', { name: 'description', autocomplete: 'off' });
  const submit = h('button', { type: 'submit' }, 'Create key');
  const status = h('div');
  return h(
    'form',
    {
      'aria-label': 'Create an API key',
      onsubmit: (event: Event) => {
        event.preventDefault();
        void act(submit, status, async () => {
          const answer = await api().keys.createApiKey({ role: Number(role.value) as ApiKeyRole, owner: owner.value.trim(), description: description.value.trim() });
          created();
          const secret = h('input', { readonly: true, value: answer.secret, class: 'mono', 'aria-label': 'The new key' });
          return h(
            'div',
            { class: 'secret', role: 'status' },
            h('p', {}, `Key ${answer.key?.keyId ?? ''} created. Copy it now: it is shown once and the registry keeps only its hash.`),
            secret,
          );
        });
      },
    },
    h('div', { class: 'fields' }, field('Role', role), field('Owner', owner, 'Owner keys act only on this owner’s agents'), field('Description', description)),
    h('div', { class: 'actions' }, submit),
    status,
  );
}


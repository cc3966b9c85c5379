// Loading, empty and error states, the same on every page. An error shows its Connect code and message, and the
// registry's own error code when the server sent one (atr-error-code).
import { Code, ConnectError } from '@connectrpc/connect';
import { type Child, h, show } from './dom.ts';

export function loading(what: string): HTMLElement {
  return h('p', { class: 'state loading', role: 'status' }, `Loading ${what}…`);
}

export function empty(message: string): HTMLElement {
  return h('p', { class: 'state empty' }, message);
}

export function errorBox(error: unknown): HTMLElement {
  const connect = ConnectError.from(error);
  const registryCode = connect.metadata.get('atr-error-code');
  return h(
    'div',
    { class: 'state error', role: 'alert' },
    h('strong', {}, `${Code[connect.code] ?? 'Unknown'}`),
    registryCode ? h('code', { class: 'error-code' }, registryCode) : undefined,
    h('span', { class: 'error-message' }, connect.rawMessage),
  );
}

/** Shows "loading" in the element, then what `load` makes of the answer, or the error. */
export async function load(element: Element, what: string, fill: () => Promise<Child>): Promise<void> {
  show(element, loading(what));
  element.setAttribute('aria-busy', 'true');
  try {
    show(element, await fill());
  } catch (error) {
    show(element, errorBox(error));
  } finally {
    element.removeAttribute('aria-busy');
  }
}

/** Runs an action from a form or button: disables it while running, reports failure in `status`. */
export async function act(button: HTMLButtonElement, status: Element, action: () => Promise<Child>): Promise<void> {
  button.disabled = true;
  show(status, h('span', { role: 'status' }, 'Working…'));
  try {
    show(status, await action());
  } catch (error) {
    show(status, errorBox(error));
  } finally {
    button.disabled = false;
  }
}

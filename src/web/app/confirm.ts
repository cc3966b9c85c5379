// A modal confirmation (<dialog>): focus moves into it, Escape cancels, and nothing happens until the user says so.
import { type Child, h } from './dom.ts';

/** Resolves true when the user confirms; `body` may hold form controls the caller reads afterwards. */
export function confirmDialog(title: string, body: Child, confirmLabel: string, danger = false): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const dialog = h('dialog', { 'aria-labelledby': titleId });
    const close = (answer: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const confirm = h('button', { type: 'button', class: danger ? 'danger' : '', onclick: () => close(true) }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => close(false) }, 'Cancel');
    dialog.append(h('h2', { id: titleId }, title), h('div', {}, body), h('div', { class: 'actions' }, confirm, cancel));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// Building DOM without a framework: h('button', { type: 'button', onclick }, 'Revoke'). Text is always set as
// text, never parsed as HTML, so nothing the API returns can inject markup.
export type Child = Node | string | number | false | null | undefined | readonly Child[];
type Listener = (event: Event) => void;
export type Props = Record<string, string | number | boolean | undefined | Listener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(parent, child as readonly Child[]);
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what the element shows. */
export function show(element: Element, ...children: Child[]): void {
  element.replaceChildren();
  append(element, children);
}

let nextId = 0;
/** A unique id for pairing a label with its control. */
export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/** A labelled form control: <label for> + control (+ a hint the control is described by). */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  control.id ||= uid('field');
  const hintElement = hint === undefined ? undefined : h('small', { id: `${control.id}-hint`, class: 'hint' }, hint);
  if (hintElement) control.setAttribute('aria-describedby', hintElement.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintElement);
}

/** A page's heading; focusable so the router can move focus to it when the page changes. */
export function heading(text: string): HTMLHeadingElement {
  return h('h1', { tabindex: '-1' }, text);
}

// Offers text as a file the browser saves; it goes from this page to the user's disk and nowhere else.
import { h } from './dom.ts';

export function downloadLink(filename: string, text: string, label: string, type = 'application/x-pem-file'): HTMLAnchorElement {
  const url = URL.createObjectURL(new Blob([text], { type }));
  return h('a', { href: url, download: filename, class: 'download' }, label);
}

// The registry's web UI: a shell (header, navigation, who is signed in) around one page per route. Every call goes
// through the SDK's Connect-Web clients to this origin.
import './app.css';
import { ACCESS_CHANGED, callerAccess } from './access.ts';
import { h, show } from './dom.ts';
import { accessPage } from './pages/access.ts';
import { agentPage } from './pages/agent.ts';
import { agentsPage } from './pages/agents.ts';
import { logPage } from './pages/log.ts';
import { registerPage } from './pages/register.ts';
import { verifyPage } from './pages/verify.ts';
import { type Route, currentRoute, href } from './router.ts';

export type Page = (view: HTMLElement, route: Route) => void | Promise<void>;

const NAVIGATION: readonly (readonly [string, string])[] = [
  ['agents', 'Agents'],
  ['register', 'Register'],
  ['verify', 'Verify'],
  ['log', 'Transparency log'],
  ['access', 'Access'],
];

function pageFor(route: Route): Page {
  const [section, item] = route.segments;
  switch (section ?? 'agents') {
    case 'agents':
      return item === undefined ? agentsPage : agentPage;
    case 'register':
      return registerPage;
    case 'verify':
      return verifyPage;
    case 'log':
      return logPage;
    case 'access':
      return accessPage;
    default:
      return (view) => show(view, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: href(['agents']) }, 'See the agents.')));
  }
}

const who = h('span', { class: 'who', 'aria-live': 'polite' });
const nav = h('nav', { 'aria-label': 'Main' }, h('ul', {}, NAVIGATION.map(([segment, label]) => h('li', {}, h('a', { href: href([segment]), 'data-section': segment }, label)))));
const view = h('main', { id: 'view' });
document.body.append(
  h('a', { class: 'skip', href: '#view' }, 'Skip to content'),
  h('header', {}, h('a', { class: 'brand', href: href(['agents']) }, 'Agent Trust Registry'), nav, who),
  view,
);

/** Shows who the page acts as; at start and after signing in or out. */
async function refreshWho(): Promise<void> {
  try {
    const access = await callerAccess();
    show(who, access.principal === 'anonymous' ? 'Not signed in' : `Signed in as ${access.principal}${access.role ? ` (${access.role})` : ''}`, ' · ', h('a', { href: href(['access']) }, access.principal === 'anonymous' ? 'Sign in' : 'Access'));
  } catch {
    show(who, h('a', { href: href(['access']) }, 'Sign in'));
  }
}

let rendering = 0;
async function render(): Promise<void> {
  const route = currentRoute();
  const section = route.segments[0] ?? 'agents';
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const ticket = ++rendering;
  const page = h('div', { class: 'page' });
  show(view, page);
  await pageFor(route)(page, route);
  // Moving focus to the new page's heading tells keyboard and screen-reader users the page changed.
  if (ticket === rendering) page.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => void render());
window.addEventListener(ACCESS_CHANGED, () => void refreshWho());
void refreshWho();
void render();

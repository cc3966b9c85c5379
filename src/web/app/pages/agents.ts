// The agents list. Filters, page size and paging live in the URL query, so a view can be bookmarked, reloaded and
// shared; the tokens of the pages before this one are kept there too, which is what lets Previous go back.
import './agents.css';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { type Agent, AgentStatus, type ListAgentsResponse } from '../../../sdk/browser.ts';
import { type Child, append, field, h, heading, show } from '../dom.ts';
import { type Route, href, navigate } from '../router.ts';
import { api } from '../session.ts';
import { empty, load } from '../states.ts';

const PAGE_SIZES = ['10', '20', '50', '100'];
const DEFAULT_PAGE_SIZE = '20';
const STATUSES: Readonly<Record<string, AgentStatus>> = {
  active: AgentStatus.ACTIVE,
  revoked: AgentStatus.REVOKED,
  expired: AgentStatus.EXPIRED,
  pending: AgentStatus.PENDING,
};

interface Filters {
  readonly owner: string;
  readonly status: string;
  readonly capability: string;
  readonly size: string;
  /** The page token of each page before this one was asked with, oldest first; the last is this page's. */
  readonly pages: readonly string[];
}

export function agentsPage(view: HTMLElement, route: Route): Promise<void> {
  const filters = filtersOf(route.query);
  const results = h('div');
  show(view, heading('Agents'), filterForm(filters), results);
  return load(results, 'agents', () => agentsTable(filters));
}

function filtersOf(query: URLSearchParams): Filters {
  const status = query.get('status') ?? '';
  const size = query.get('size') ?? '';
  return {
    owner: query.get('owner') ?? '',
    status: status in STATUSES ? status : '',
    capability: query.get('capability') ?? '',
    size: PAGE_SIZES.includes(size) ? size : DEFAULT_PAGE_SIZE,
    pages: (query.get('pages') ?? '').split(',').filter((token) => token !== ''),
  };
}

/** The list's URL for these filters; page tokens are base64url, so a comma separates them safely. */
function listHref(filters: Filters): string {
  const { owner, status, capability, size, pages } = filters;
  return href(['agents'], { owner, status, capability, size: size === DEFAULT_PAGE_SIZE ? '' : size, pages: pages.join(',') });
}

function filterForm(filters: Filters): HTMLFormElement {
  const owner = h('input', { name: 'owner', value: filters.owner, autocomplete: 'off' });
  const capability = h('input', { name: 'capability', value: filters.capability, autocomplete: 'off' });
  const status = options(['', 'Any status'], ...Object.keys(STATUSES).map((name) => [name, name] as const));
  status.value = filters.status;
  const size = options(...PAGE_SIZES.map((value) => [value, value] as const));
  size.value = filters.size;
  // New filters start again at the first page.
  const apply = (event: Event) => {
    event.preventDefault();
    navigate(listHref({ owner: owner.value.trim(), status: status.value, capability: capability.value.trim(), size: size.value, pages: [] }));
  };
  return h(
    'form',
    { role: 'search', 'aria-label': 'Filter agents', onsubmit: apply },
    h('div', { class: 'fields' }, field('Owner', owner), field('Status', status), field('Capability', capability), field('Per page', size)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: href(['agents']) }, 'Clear filters')),
  );
}

function options(...choices: (readonly [string, string])[]): HTMLSelectElement {
  return h('select', {}, choices.map(([value, label]) => h('option', { value }, label)));
}

async function agentsTable(filters: Filters): Promise<Child> {
  const answer = await api().registry.listAgents({
    owner: filters.owner,
    status: STATUSES[filters.status] ?? AgentStatus.UNSPECIFIED,
    capability: filters.capability,
    pageSize: Number(filters.size),
    pageToken: filters.pages.at(-1) ?? '',
  });
  if (answer.agents.length === 0) return empty('No agents match these filters.');
  const caption = `Page ${filters.pages.length + 1} · ${answer.total} ${answer.total === 1 ? 'agent matches' : 'agents match'}`;
  const { table, addRows } = stackedTable(['Name', 'Owner', 'Status', 'Capabilities', 'Certificate expires'], caption);
  addRows(answer.agents.map(agentCells));
  return [table, pager(filters, answer)];
}

function agentCells(agent: Agent): Child[] {
  return [
    h('a', { href: href(['agents', agent.agentName]) }, agent.agentName),
    agent.owner,
    statusBadge(agent.status),
    agent.capabilities.join(', '),
    // A revoked agent's certificate is dead whatever its date says.
    agent.status === AgentStatus.REVOKED ? 'revoked' : agent.expiresAt && expiryCountdown(timestampDate(agent.expiresAt)),
  ];
}

/** A table whose rows stack on a phone, each cell labelled with its column (agents.css); rows can be added later. */
export function stackedTable(columns: readonly string[], caption?: string): { table: HTMLElement; addRows: (rows: readonly (readonly Child[])[]) => void } {
  const body = h('tbody');
  const head = h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col' }, column))));
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'stacked' }, caption && h('caption', {}, caption), head, body));
  const addRows = (rows: readonly (readonly Child[])[]) => append(body, rows.map((cells) => h('tr', {}, cells.map((cell, index) => h('td', { 'data-label': columns[index] }, cell)))));
  return { table, addRows };
}

function pager(filters: Filters, answer: ListAgentsResponse): HTMLElement {
  const previous = filters.pages.length > 0 && h('a', { href: listHref({ ...filters, pages: filters.pages.slice(0, -1) }), rel: 'prev' }, '← Previous');
  const next = answer.nextPageToken !== '' && h('a', { href: listHref({ ...filters, pages: [...filters.pages, answer.nextPageToken] }), rel: 'next' }, 'Next →');
  return h('nav', { class: 'actions pager', 'aria-label': 'Pages' }, previous, next);
}

function statusName(status: AgentStatus): string {
  return (AgentStatus[status] ?? 'unspecified').toLowerCase();
}

export function statusBadge(status: AgentStatus): HTMLElement {
  const name = statusName(status);
  return h('span', { class: `badge ${name}` }, name);
}

/** "in 29 d 23 h" or "expired 2 h ago", kept current while it is on the page. */
export function expiryCountdown(expiresAt: Date): HTMLTimeElement {
  const element = h('time', { datetime: expiresAt.toISOString(), title: expiresAt.toISOString() });
  const update = () => {
    element.textContent = expiryText(expiresAt.getTime() - Date.now());
  };
  update();
  // The element is on the page before the first tick; once a page replaces it, the timer stops itself.
  const timer = setInterval(() => (element.isConnected ? update() : clearInterval(timer)), 1000);
  return element;
}

function expiryText(remainingMs: number): string {
  return remainingMs > 0 ? `in ${duration(remainingMs)}` : `expired ${duration(-remainingMs)} ago`;
}

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
] as const;

/** The two largest units of a duration, the second left out when zero: "29 d 23 h", "2 h", "4 min 10 s". */
function duration(ms: number): string {
  let rest = ms;
  const counts = UNITS.map(([unit, size]) => {
    const count = Math.floor(rest / size);
    rest -= count * size;
    return [count, unit] as const;
  });
  const first = counts.findIndex(([count]) => count > 0);
  if (first === -1) return '0 s';
  return counts
    .slice(first, first + 2)
    .filter(([count]) => count > 0)
    .map(([count, unit]) => `${count} ${unit}`)
    .join(' ');
}

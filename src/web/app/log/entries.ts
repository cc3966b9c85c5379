// The log's entries, oldest first as the API lists them, filtered by agent and event type. Filters and the page
// tokens of the pages before this one live in the URL query, so a view can be bookmarked and Previous goes back.
import type { ListEntriesResponse, LogEntry } from '../../../sdk/browser.ts';
import { type Child, field, h } from '../dom.ts';
import { href, navigate } from '../router.ts';
import { api } from '../session.ts';
import { empty } from '../states.ts';

const PAGE_SIZE = 20;

export interface EntryFilters {
  readonly agent: string;
  readonly type: string;
  /** The page token of each page before this one, oldest first; the last is this page's. */
  readonly pages: readonly string[];
}

export function entryFiltersOf(query: URLSearchParams): EntryFilters {
  return {
    agent: query.get('agent') ?? '',
    type: query.get('type') ?? '',
    pages: (query.get('pages') ?? '').split(',').filter((token) => token !== ''),
  };
}

/** The log page's URL for these filters; page tokens are base64url, so a comma separates them safely. */
function listHref({ agent, type, pages }: EntryFilters): string {
  return href(['log'], { agent, type, pages: pages.join(',') });
}

export function entryFilterForm(filters: EntryFilters): HTMLFormElement {
  const agent = h('input', { name: 'agent', value: filters.agent, autocomplete: 'off', spellcheck: 'false' });
  const type = h('input', { name: 'type', value: filters.type, autocomplete: 'off', spellcheck: 'false' });
  // New filters start again at the first page.
  const apply = (event: Event) => {
    event.preventDefault();
    navigate(listHref({ agent: agent.value.trim(), type: type.value.trim(), pages: [] }));
  };
  return h(
    'form',
    { role: 'search', 'aria-label': 'Filter log entries', onsubmit: apply },
    h('div', { class: 'fields' }, field('Agent name', agent), field('Event type', type, 'e.g. agent.registered, agent.rotated, agent.revoked')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'), h('a', { href: href(['log']) }, 'Clear filters')),
  );
}

export async function entriesTable(filters: EntryFilters): Promise<Child> {
  const answer = await api().log.listEntries({ agentName: filters.agent, eventType: filters.type, pageSize: PAGE_SIZE, pageToken: filters.pages.at(-1) ?? '' });
  if (answer.entries.length === 0) {
    return filters.pages.length === 0 ? empty('No log entries match these filters.') : [empty('No more entries.'), pager(filters, answer)];
  }
  return [
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'entries' },
        h('caption', {}, `Page ${filters.pages.length + 1}, oldest first`),
        h('thead', {}, h('tr', {}, ['Index', 'Event', 'Agent', 'Time', 'Actor'].map((title) => h('th', { scope: 'col' }, title)))),
        h('tbody', {}, answer.entries.map(entryRow)),
      ),
    ),
    pager(filters, answer),
  ];
}

function entryRow({ index, event }: LogEntry): HTMLTableRowElement {
  const agent = event?.agentName ?? '';
  return h(
    'tr',
    {},
    h('td', {}, h('a', { href: href(['log', String(index)]), 'aria-label': `Entry ${index}` }, String(index))),
    h('td', {}, event?.eventType),
    h('td', {}, agent && h('a', { href: href(['agents', agent]) }, agent)),
    h('td', {}, event?.timestamp && h('time', { datetime: event.timestamp }, event.timestamp)),
    h('td', {}, event?.actor),
  );
}

function pager(filters: EntryFilters, answer: ListEntriesResponse): HTMLElement {
  const previous = filters.pages.length > 0 && h('a', { href: listHref({ ...filters, pages: filters.pages.slice(0, -1) }), rel: 'prev' }, '← Previous');
  const next = answer.nextPageToken !== '' && h('a', { href: listHref({ ...filters, pages: [...filters.pages, answer.nextPageToken] }), rel: 'next' }, 'Next →');
  return h('nav', { class: 'actions', 'aria-label': 'Pages' }, previous, next);
}

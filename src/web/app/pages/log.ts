// The transparency log, checked in this browser with the SDK's own code (what the CLI's `atr log` commands run):
// the latest checkpoint's signature against the key this browser pins, consistency with the checkpoint it verified
// before, the entries, and for one entry (#/log/<index>) its leaf hash and inclusion proof.
import './log.css';
import { h, heading, show, uid } from '../dom.ts';
import { showCheckpoint } from '../log/checkpoint.ts';
import { olderCheckpointForm, sinceLastVisit } from '../log/consistency.ts';
import { entriesTable, entryFilterForm, entryFiltersOf } from '../log/entries.ts';
import { entryPage } from '../log/entry.ts';
import type { Route } from '../router.ts';
import { empty, load } from '../states.ts';

export function logPage(view: HTMLElement, route: Route): Promise<void> | void {
  const index = route.segments[1];
  return index === undefined ? overview(view, route) : entryPage(view, index);
}

async function overview(view: HTMLElement, route: Route): Promise<void> {
  const checkpoint = h('div');
  const consistency = h('div');
  const entries = h('div');
  const filters = entryFiltersOf(route.query);
  show(
    view,
    heading('Transparency log'),
    section('Latest checkpoint', checkpoint),
    section('Consistency', consistency, h('h3', {}, 'From an older checkpoint'), olderCheckpointForm()),
    section('Entries', entryFilterForm(filters), entries),
  );
  await Promise.all([checkTrust(checkpoint, consistency), load(entries, 'log entries', () => entriesTable(filters))]);
}

/** The checkpoint, then its consistency with the last one verified; again from the start when another key is pinned. */
async function checkTrust(checkpoint: HTMLElement, consistency: HTMLElement): Promise<void> {
  show(consistency);
  // After a pin the form is drawn anew; focus goes back to its field rather than to the top of the document.
  const pinned = () => void checkTrust(checkpoint, consistency).then(() => checkpoint.querySelector('input')?.focus());
  const latest = await showCheckpoint(checkpoint, pinned);
  await load(consistency, 'the consistency proof', async () =>
    latest === undefined ? empty('Not checked: there is no verified checkpoint to check against.') : sinceLastVisit(latest),
  );
}

function section(title: string, ...content: Node[]): HTMLElement {
  const id = uid('section');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

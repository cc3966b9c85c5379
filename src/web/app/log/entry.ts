// One log entry (#/log/<index>): its event, its leaf hash computed here from the entry's data and compared with the
// server's, and the proof that it is in the log.
import { type LogEntry, checkLeafHash, hashToHex, leafHash } from '../../../sdk/browser.ts';
import { type Child, h, heading, show } from '../dom.ts';
import { href } from '../router.ts';
import { api } from '../session.ts';
import { load } from '../states.ts';
import { fact } from './facts.ts';
import { inclusionCheck } from './inclusion.ts';
import { verdict } from './verdict.ts';

export function entryPage(view: HTMLElement, index: string): Promise<void> | void {
  const back = h('p', {}, h('a', { href: href(['log']) }, '← The transparency log'));
  if (!/^\d{1,15}$/.test(index)) {
    return show(view, heading('Log entry'), back, h('p', { class: 'state error', role: 'alert' }, `"${index}" is not an entry index.`));
  }
  const content = h('div');
  show(view, heading(`Log entry ${index}`), back, content);
  return load(content, `entry ${index}`, () => entryView(BigInt(index)));
}

async function entryView(index: bigint): Promise<Child> {
  const { entry } = await api().log.getEntry({ index });
  if (entry === undefined) throw new Error(`the server sent no entry for index ${index}`);
  const leaf = await leafHash(entry.data);
  return [
    eventFacts(entry),
    h('h2', {}, 'Leaf hash'),
    await leafVerdict(entry, leaf),
    h(
      'dl',
      { class: 'facts' },
      fact('Computed here', h('code', {}, hashToHex(leaf))),
      fact('Server says', h('code', {}, entry.leafHash)),
      fact('Data hashed', h('pre', {}, new TextDecoder().decode(entry.data))),
    ),
    h('h2', {}, 'Inclusion'),
    inclusionCheck(entry, leaf),
  ];
}

function eventFacts({ index, event }: LogEntry): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    fact('Index', String(index)),
    fact('Event', event?.eventType),
    fact('Agent', event?.agentName && h('a', { href: href(['agents', event.agentName]) }, event.agentName)),
    fact('Status', event?.status),
    fact('Reason', event?.reason),
    fact('Certificate fingerprint', event?.certFingerprint && h('code', {}, event.certFingerprint)),
    fact('Certificate serial', event?.certSerial && h('code', {}, event.certSerial)),
    fact('Time', event?.timestamp && h('time', { datetime: event.timestamp }, event.timestamp)),
    fact('Actor', event?.actor),
  );
}

function leafVerdict(entry: LogEntry, leaf: Uint8Array): Promise<HTMLElement> {
  return verdict(async () => {
    checkLeafHash(entry.leafHash, leaf);
    return 'SHA-256(0x00 || data), computed in this browser, is the leaf hash the server reports.';
  });
}

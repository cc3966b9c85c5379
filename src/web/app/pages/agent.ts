// One agent: its record, its certificate as the certificate itself reads, the CA chain, its history in the
// transparency log, and rotate / revoke for a caller who may change it.
import './agents.css';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { type Agent, AgentStatus, type GetAgentCertificateResponse, type LogEntry } from '../../../sdk/browser.ts';
// Not in the SDK's browser entry, which stays free of @peculiar/x509; the UI carries it.
import { generateKeyAndCsr } from '../../../sdk/csr.ts';
import { type Access, callerAccess, may, mayWrite } from '../access.ts';
import { caFacts, certificateFields, dateTime, facts, leafFacts } from '../certificate.ts';
import { confirmDialog } from '../confirm.ts';
import { type Child, field, h, heading, show } from '../dom.ts';
import { downloadLink } from '../download.ts';
import { type Route, href } from '../router.ts';
import { api } from '../session.ts';
import { act, empty, load } from '../states.ts';
// The reasons the registry revokes for, by their RFC 5280 names: the server's own list.
import { REVOCATION_REASONS } from '../../../pki/revocation-reason.ts';
import { expiryCountdown, stackedTable, statusBadge } from './agents.ts';

const HISTORY_PAGE_SIZE = 50;

/** Where an action's outcome goes (outside the reloaded details, so a key to download stays), and the reload. */
interface Actions {
  readonly notice: HTMLElement;
  readonly reload: () => Promise<void>;
}

export function agentPage(view: HTMLElement, route: Route): Promise<void> {
  const name = route.segments[1] ?? '';
  const notice = h('div', { tabindex: '-1', 'aria-live': 'polite' });
  const details = h('div');
  const reload = () => load(details, 'the agent', () => agentDetails(name, { notice, reload }));
  show(view, heading(name), notice, details);
  return reload();
}

async function agentDetails(agentName: string, actions: Actions): Promise<Child> {
  const { registry } = api();
  const [{ agent }, certificate, access] = await Promise.all([registry.getAgent({ agentName }), registry.getAgentCertificate({ agentName }), callerAccess()]);
  if (agent === undefined) throw new Error('the registry answered without the agent');
  const history = h('div');
  void load(history, 'the history', () => historyTable(agentName));
  return [
    agentFacts(agent),
    h('h2', {}, 'Change'),
    changeControls(agent, access, actions),
    await certificateSection(certificate),
    h('h2', {}, 'History in the transparency log'),
    history,
  ];
}

function agentFacts(agent: Agent): HTMLDListElement {
  return facts([
    ['Status', [statusBadge(agent.status), agent.revocationReason && ` ${agent.revocationReason}`]],
    ['Revoked at', agent.revokedAt && dateTime(timestampDate(agent.revokedAt))],
    ['Owner', agent.owner],
    ['Capabilities', agent.capabilities.join(', ')],
    ['Endpoints', agent.endpoints.map((endpoint) => h('div', {}, h('code', {}, endpoint)))],
    ['Description', agent.description],
    ['Version', agent.version],
    ['Certificate expires', agent.expiresAt && expiryCountdown(timestampDate(agent.expiresAt))],
    ['DNS', agent.dnsStatus],
    ['SPIFFE ID', agent.spiffeId && h('code', {}, agent.spiffeId)],
  ]);
}

/** Rotate and Revoke when the caller may change this agent; otherwise why not. */
function changeControls(agent: Agent, access: Access, actions: Actions): Child {
  if (agent.status === AgentStatus.REVOKED) return h('p', {}, 'This agent is revoked; a revocation is final.');
  if (!mayWrite(access, agent.owner)) {
    if (may(access, 'write_own')) return h('p', {}, `This key may change only agents of owner ${access.owner}.`);
    return h('p', {}, h('a', { href: href(['access']) }, 'Sign in'), ' with a key that may change agents.');
  }
  const rotate = h('button', { type: 'button', onclick: () => void rotateCertificate(agent, rotate, actions) }, 'Rotate certificate');
  const revoke = h('button', { type: 'button', class: 'danger', onclick: () => void revokeAgent(agent, revoke, actions) }, 'Revoke');
  return h('div', { class: 'actions' }, rotate, revoke);
}

/** By default the new key is made here and only its CSR leaves the browser; the server may make it instead. */
async function rotateCertificate(agent: Agent, button: HTMLButtonElement, { notice, reload }: Actions): Promise<void> {
  const serverKey = h('input', { type: 'checkbox' });
  const body = [
    h('p', {}, 'A new key is made in this browser and only a certificate request for it is sent. The current certificate stops being valid.'),
    h('label', { class: 'choice' }, serverKey, 'Let the server make the key instead'),
  ];
  if (!(await confirmDialog(`Rotate the certificate of ${agent.agentName}?`, body, 'Rotate'))) return;
  await act(button, notice, async () => {
    const key = serverKey.checked ? undefined : await generateKeyAndCsr(agent.agentName);
    const answer = await api().registry.rotateCertificate({ agentName: agent.agentName, csrPem: key?.csrPem ?? '', expectedVersion: agent.version });
    void reload();
    return newKeyNotice(agent.agentName, key?.privateKeyPem ?? answer.privateKeyPem);
  });
  notice.focus();
}

function newKeyNotice(agentName: string, privateKeyPem: string): HTMLElement {
  return h(
    'div',
    { class: 'secret' },
    h('p', {}, 'Certificate rotated. The new private key is shown only now: the registry does not keep it.'),
    downloadLink(`${agentName}.key.pem`, privateKeyPem, 'Download the new private key (PEM)'),
  );
}

async function revokeAgent(agent: Agent, button: HTMLButtonElement, { notice, reload }: Actions): Promise<void> {
  const reason = h('select', {}, REVOCATION_REASONS.map((reason) => h('option', { value: reason }, reason)));
  const body = [h('p', {}, 'Its certificate stops being valid at once, and the agent cannot be restored.'), field('Reason', reason)];
  if (!(await confirmDialog(`Revoke ${agent.agentName}?`, body, 'Revoke', true))) return;
  await act(button, notice, async () => {
    await api().registry.revokeAgent({ agentName: agent.agentName, reason: reason.value, expectedVersion: agent.version });
    void reload();
    return h('p', { class: 'result ok' }, `Revoked ${agent.agentName} (${reason.selectedOptions[0]?.text ?? reason.value}).`);
  });
  notice.focus();
}

async function certificateSection(certificate: GetAgentCertificateResponse): Promise<Child> {
  const [leaves, chain] = await Promise.all([certificateFields(certificate.certPem), certificateFields(certificate.chainPem)]);
  return [
    h('h2', {}, 'Certificate'),
    leaves.map(leafFacts),
    h('pre', {}, certificate.certPem),
    h('p', {}, downloadLink(`${certificate.agentName}.pem`, certificate.certPem, 'Download the certificate (PEM)')),
    h('h2', {}, 'CA chain'),
    chain.map((ca) => [h('h3', { class: 'ca-subject' }, ca.subject), caFacts(ca)]),
  ];
}

/** The agent's log entries, oldest first, a page at a time. */
async function historyTable(agentName: string): Promise<Child> {
  const { table, addRows } = stackedTable(['Index', 'Event', 'Time', 'Actor', 'Reason']);
  const more = h('div', { class: 'actions' });
  const showPage = async (pageToken: string): Promise<Child> => {
    const { entries, nextPageToken } = await api().log.listEntries({ agentName, pageSize: HISTORY_PAGE_SIZE, pageToken });
    addRows(entries.map(historyCells));
    if (nextPageToken === '') return undefined;
    const button: HTMLButtonElement = h(
      'button',
      { type: 'button', class: 'secondary', onclick: () => void act(button, more, () => showPage(nextPageToken)).then(() => more.querySelector('button')?.focus()) },
      'Show more',
    );
    return button;
  };
  show(more, await showPage(''));
  if (table.querySelector('tbody tr') === null) return empty('The transparency log has no entries for this agent.');
  return [table, more];
}

function historyCells(entry: LogEntry): Child[] {
  const index = String(entry.index);
  const event = entry.event;
  return [
    h('a', { href: href(['log', index]) }, index),
    event?.eventType,
    event?.timestamp && dateTime(new Date(event.timestamp)),
    event?.actor,
    event?.reason,
  ];
}

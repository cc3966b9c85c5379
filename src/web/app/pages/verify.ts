// Verify a certificate as a relying party would: paste a PEM, drop a file on the text box or choose one, and see
// the registry's verdict with each of its checks, up to the one that failed.
import './verify.css';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { AgentStatus, type VerifyCertificateResponse, VerifyReason } from '../../../sdk/browser.ts';
import { dateTime, facts } from '../certificate.ts';
import { type Child, field, h, heading, show } from '../dom.ts';
import type { Route } from '../router.ts';
import { api } from '../session.ts';
import { act } from '../states.ts';
import { statusBadge } from './agents.ts';

type Check = readonly [label: string, failedWith: (answer: VerifyCertificateResponse) => boolean];

/**
 * The checks in the order the server runs them (src/verify/verify.ts, then certificateState in
 * current-certificate.ts). Expired comes from two of them: a certificate past its notAfter fails before the agent is
 * looked up, so only a lapsed agent's answer names its status.
 */
const CHECKS: readonly Check[] = [
  ['Parsed as an X.509 certificate', (answer) => answer.reason === VerifyReason.MALFORMED],
  ["Issued by this registry's CA", (answer) => answer.reason === VerifyReason.UNTRUSTED_ISSUER],
  [
    'Within its validity period',
    (answer) => answer.reason === VerifyReason.NOT_YET_VALID || (answer.reason === VerifyReason.EXPIRED && answer.status === AgentStatus.UNSPECIFIED),
  ],
  ['Held by an agent the registry knows', (answer) => answer.reason === VerifyReason.UNKNOWN_AGENT],
  ['Agent not revoked', (answer) => answer.reason === VerifyReason.REVOKED],
  ["The agent's current certificate (not superseded)", (answer) => answer.reason === VerifyReason.SUPERSEDED],
  ['Agent active (not expired)', (answer) => answer.reason === VerifyReason.EXPIRED && answer.status !== AgentStatus.UNSPECIFIED],
];

export function verifyPage(view: HTMLElement, _route: Route): void {
  const pem = h('textarea', { name: 'pem', rows: 12, spellcheck: 'false', required: true });
  const file = h('input', { type: 'file', accept: '.pem,.crt,.cer,application/x-pem-file' });
  const submit = h('button', { type: 'submit' }, 'Verify');
  const result = h('div', { 'aria-live': 'polite' });
  const verify = () => act(submit, result, () => verdict(pem.value));
  // A chosen or dropped file is read into the text box, so what was verified stays in view.
  const verifyFile = async (chosen: File | undefined) => {
    if (chosen === undefined) return;
    pem.value = await chosen.text();
    await verify();
  };
  pem.addEventListener('dragover', (event) => event.preventDefault());
  pem.addEventListener('drop', (event) => {
    event.preventDefault();
    void verifyFile(event.dataTransfer?.files[0]);
  });
  file.addEventListener('change', () => void verifyFile(file.files?.[0]));
  const onsubmit = (event: Event) => {
    event.preventDefault();
    void verify();
  };
  show(
    view,
    heading('Verify a certificate'),
    h(
      'form',
      { onsubmit },
      field('Certificate (PEM)', pem, 'Paste it here, drop a PEM file on this box, or choose a file.'),
      field('Certificate file', file),
      h('div', { class: 'actions' }, submit),
    ),
    result,
  );
}

async function verdict(certPem: string): Promise<Child> {
  const answer = await api().verify.verifyCertificate({ certPem });
  return [
    h('div', { class: `result ${answer.verified ? 'ok' : 'bad'}` }, h('strong', {}, answer.verified ? 'Verified' : 'Not verified'), h('p', {}, `${reasonText(answer.reason)}: ${answer.message}`)),
    facts([
      ['Agent', answer.agentName],
      ['Status', answer.status !== AgentStatus.UNSPECIFIED && statusBadge(answer.status)],
      ['SHA-256 fingerprint', answer.certFingerprint && h('code', {}, answer.certFingerprint)],
      ['Serial', answer.certSerial && h('code', {}, answer.certSerial)],
      ['Expires', answer.expiresAt && dateTime(timestampDate(answer.expiresAt))],
    ]),
    h('h2', {}, 'Checks, in the order the registry makes them'),
    checkList(answer),
  ];
}

/** VERIFY_REASON_UNTRUSTED_ISSUER → "Untrusted issuer". */
function reasonText(reason: VerifyReason): string {
  const words = (VerifyReason[reason] ?? 'UNSPECIFIED').toLowerCase().replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Checks before the failing one passed; those after it were not made. */
function checkList(answer: VerifyCertificateResponse): HTMLOListElement {
  const failed = CHECKS.findIndex(([, failedWith]) => failedWith(answer));
  return h(
    'ol',
    { class: 'checks' },
    CHECKS.map(([label], index) => {
      if (answer.verified || index < failed) return h('li', { class: 'ok' }, `${label}: passed`);
      if (index === failed) return h('li', { class: 'bad' }, `${label}: failed`);
      return h('li', { class: 'skipped' }, `${label}: not checked`);
    }),
  );
}

// Register an agent. By default the key pair is made here with WebCrypto and only a PKCS#10 request is sent: the
// private key is offered as a download and never leaves the page. The fields are checked as they are typed by the
// server's own rules (the same modules the registry runs), and the server checks them again.
// Not in the SDK's browser entry, which stays free of @peculiar/x509; the UI carries it.
import { generateKeyAndCsr } from '../../../sdk/csr.ts';
import { brokenNameRule } from '../../../registry/names.ts';
import { checkCapabilities, checkDescription, checkEndpoints, checkOwner } from '../../../registry/fields.ts';
import { callerAccess, may } from '../access.ts';
import { downloadLink } from '../download.ts';
import { field, h, heading, show, uid } from '../dom.ts';
import { href } from '../router.ts';
import { api } from '../session.ts';
import { act } from '../states.ts';

type Rule = (value: string) => string | undefined;

const lines = (text: string) => text.split(/[\n,]/).map((line) => line.trim()).filter((line) => line !== '');

/** The message of the first rule a field breaks, from the server's field checks. */
function ruleOf(check: (value: string) => unknown): Rule {
  return (value) => {
    try {
      check(value);
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  };
}

const RULES: Record<string, Rule> = {
  name: (value) => {
    const broken = brokenNameRule(value);
    return broken === undefined ? undefined : `agent_name: ${broken}`;
  },
  owner: ruleOf(checkOwner),
  capabilities: ruleOf((value) => checkCapabilities(lines(value))),
  description: ruleOf(checkDescription),
  endpoints: ruleOf((value) => checkEndpoints(lines(value))),
};

/** A control checked by `rule` on every change; its message is announced next to it. */
function checked(control: HTMLInputElement | HTMLTextAreaElement, rule: Rule): { control: typeof control; error: HTMLElement; valid(): boolean } {
  const error = h('small', { id: uid('error'), class: 'field-error', 'aria-live': 'polite' });
  const valid = () => {
    const broken = rule(control.value.trim());
    control.setAttribute('aria-invalid', String(broken !== undefined));
    show(error, broken ?? '');
    return broken === undefined;
  };
  control.setAttribute('aria-errormessage', error.id);
  control.addEventListener('input', valid);
  return { control, error, valid };
}

export async function registerPage(view: HTMLElement): Promise<void> {
  const name = checked(h('input', { name: 'agent_name', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'billing.agents.example.com' }), RULES.name!);
  const owner = checked(h('input', { name: 'owner', required: true, autocomplete: 'off' }), RULES.owner!);
  const capabilities = checked(h('input', { name: 'capabilities', autocomplete: 'off', placeholder: 'invoice.read, invoice.write' }), RULES.capabilities!);
  const description = checked(h('input', { name: 'description', autocomplete: 'off' }), RULES.description!);
  const endpoints = checked(h('textarea', { name: 'endpoints', rows: 2, placeholder: 'https://billing.example.com:8443' }), RULES.endpoints!);
  const browserKey = h('input', { type: 'radio', name: 'key_mode', value: 'browser', id: uid('key'), checked: true });
  const serverKey = h('input', { type: 'radio', name: 'key_mode', value: 'server', id: uid('key') });
  const submit = h('button', { type: 'submit' }, 'Register');
  const status = h('div', { class: 'register-result' });
  const inputs = [name, owner, capabilities, description, endpoints];

  const access = await callerAccess().catch(() => undefined);
  // An owner key registers for its own owner only: say so rather than let the server refuse.
  if (access?.role === 'owner') {
    owner.control.value = access.owner;
    owner.control.readOnly = true;
  }
  const form = h(
    'form',
    {
      'aria-label': 'Register an agent',
      novalidate: true,
      onsubmit: (event: Event) => {
        event.preventDefault();
        const firstBroken = inputs.find((input) => !input.valid());
        if (firstBroken) return firstBroken.control.focus();
        void act(submit, status, () =>
          register({
            agentName: name.control.value.trim(),
            owner: owner.control.value.trim(),
            capabilities: lines(capabilities.control.value),
            description: description.control.value.trim(),
            endpoints: lines(endpoints.control.value),
            keyInBrowser: browserKey.checked,
          }),
        );
      },
    },
    h(
      'div',
      { class: 'fields' },
      withError(field('Agent name', name.control, 'A DNS name: lowercase letters, digits and hyphens in dot-separated labels'), name.error),
      withError(field('Owner', owner.control), owner.error),
      withError(field('Capabilities', capabilities.control, 'Comma-separated'), capabilities.error),
      withError(field('Description', description.control), description.error),
    ),
    withError(field('Endpoints', endpoints.control, 'One URL per line (optional)'), endpoints.error),
    h(
      'fieldset',
      { class: 'key-mode' },
      h('legend', {}, 'Private key'),
      h('div', {}, browserKey, ' ', h('label', { for: browserKey.id }, 'Generate it in this browser (P-256); only a certificate request is sent')),
      h('div', {}, serverKey, ' ', h('label', { for: serverKey.id }, 'Let the server make it and return it once')),
    ),
    h('div', { class: 'actions' }, submit),
  );
  show(
    view,
    heading('Register an agent'),
    access !== undefined && !may(access, 'write') && !may(access, 'write_own')
      ? h('p', { class: 'state empty' }, 'You may not register agents as you are signed in now. ', h('a', { href: href(['access']) }, 'Sign in'), ' with a key that may.')
      : undefined,
    form,
    status,
  );
}

function withError(fieldElement: HTMLElement, error: HTMLElement): HTMLElement {
  fieldElement.append(error);
  return fieldElement;
}

interface Registration {
  readonly agentName: string;
  readonly owner: string;
  readonly capabilities: string[];
  readonly description: string;
  readonly endpoints: string[];
  readonly keyInBrowser: boolean;
}

async function register(input: Registration): Promise<HTMLElement> {
  const { keyInBrowser, ...fields } = input;
  const local = keyInBrowser ? await generateKeyAndCsr(input.agentName) : undefined;
  const answer = await api().registry.registerAgent({ ...fields, csrPem: local?.csrPem ?? '' });
  const privateKeyPem = local?.privateKeyPem ?? answer.privateKeyPem;
  const agentName = answer.agent?.agentName ?? input.agentName;
  return h(
    'div',
    { class: 'result ok', role: 'status' },
    h('p', {}, h('strong', {}, `Registered ${agentName}`), answer.logIndex === undefined ? '' : ` (log entry ${answer.logIndex})`, '. ', h('a', { href: href(['agents', agentName]) }, 'Open the agent')),
    h(
      'p',
      { class: 'secret' },
      keyInBrowser
        ? 'The private key was made in this browser and has not been sent anywhere. Save it now: it is not kept, here or on the server. '
        : 'The server made this key and has already forgotten it. Save it now: it is shown only once. ',
      downloadLink(`${agentName}.key.pem`, privateKeyPem, 'Download the private key'),
    ),
    h('p', {}, downloadLink(`${agentName}.cert.pem`, answer.certPem, 'Download the certificate'), ' · ', downloadLink(`${agentName}.chain.pem`, answer.chainPem, 'Download the CA chain')),
    h('details', {}, h('summary', {}, 'Certificate (PEM)'), h('pre', {}, answer.certPem)),
  );
}

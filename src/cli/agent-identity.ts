// What an agent does with its own certificate over the registry's mTLS listener: `atr whoami` and `atr renew`
// (and the files `atr agent run` keeps renewed).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createClient } from '@connectrpc/connect';
import { RegistryService, WhoAmIResponseSchema } from '../../gen/atr/v1/registry_pb.js';
import { CERT_FILE_MODE, KEY_FILE_MODE, writeFileAtomic } from '../pki/ca-files.ts';
import { createRegistryTransport } from '../sdk/transport.ts';
import { type RenewedCertificate, renewCertificate } from '../sdk/renewing-identity.ts';
import { type Invocation, type OptionValues, UsageError, flagOption, requiredOption, stringOption } from './command.ts';
import { agentFields } from './output.ts';

export interface AgentFilePaths {
  readonly key: string;
  readonly cert: string;
  /** The registry CA the mTLS listener's certificate must chain to: --cacert, else chain.pem beside --cert. */
  readonly cacert: string;
}

/** --cert, --key and --cacert, each checked to exist before anything is sent. */
export function agentFiles(values: OptionValues): AgentFilePaths {
  const key = resolve(requiredOption(values, 'key'));
  const cert = resolve(requiredOption(values, 'cert'));
  const cacert = resolve(stringOption(values, 'cacert') ?? join(dirname(cert), 'chain.pem'));
  for (const [option, path] of [['key', key], ['cert', cert], ['cacert', cacert]] as const) {
    if (!existsSync(path)) throw new UsageError(`--${option}: ${path} does not exist`);
  }
  return { key, cert, cacert };
}

/** --mtls-server, else where the environment says the mTLS listener is; always https. */
export function mtlsServer(invocation: Invocation): string {
  const raw = stringOption(invocation.values, 'mtls-server') ?? invocation.mtlsServer;
  if (!URL.canParse(raw) || new URL(raw).protocol !== 'https:') {
    throw new UsageError(`--mtls-server must be an https:// URL, not ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

/** Writes a renewed pair over the old one, key first: a reader that sees the new certificate finds its key in place. */
export function writeRenewed(files: AgentFilePaths, renewed: RenewedCertificate): void {
  writeFileAtomic(files.key, renewed.keyPem, KEY_FILE_MODE);
  writeFileAtomic(files.cert, renewed.certPem, CERT_FILE_MODE);
}

export async function whoami(invocation: Invocation): Promise<number> {
  const files = agentFiles(invocation.values);
  const transport = createRegistryTransport({
    baseUrl: mtlsServer(invocation),
    tls: { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8'), ca: readFileSync(files.cacert, 'utf8') },
  });
  const response = await createClient(RegistryService, transport).whoAmI({});
  if (invocation.out.json) invocation.out.message(WhoAmIResponseSchema, response);
  else invocation.out.fields([...agentFields(response.agent), ['connected with', response.certFingerprint]]);
  return 0;
}

export async function renew(invocation: Invocation): Promise<number> {
  const files = agentFiles(invocation.values);
  const current = { certPem: readFileSync(files.cert, 'utf8'), keyPem: readFileSync(files.key, 'utf8') };
  const renewed = await renewCertificate({
    mtlsUrl: mtlsServer(invocation),
    ...current,
    trustBundlePem: readFileSync(files.cacert, 'utf8'),
    newKey: !flagOption(invocation.values, 'same-key'),
  });
  // The pair being replaced is kept until the next renewal, so a bad deployment of the new one can be undone.
  writeFileAtomic(previous(files.key), current.keyPem, KEY_FILE_MODE);
  writeFileAtomic(previous(files.cert), current.certPem, CERT_FILE_MODE);
  writeRenewed(files, renewed);
  if (renewed.chainPem !== '' && files.cacert === join(dirname(files.cert), 'chain.pem')) {
    writeFileAtomic(files.cacert, renewed.chainPem, CERT_FILE_MODE);
  }
  const { out } = invocation;
  if (out.json) {
    out.line(JSON.stringify({ fingerprint: renewed.fingerprint, not_after: renewed.notAfter.toISOString(), superseded: renewed.previousFingerprint }, null, 2));
  } else {
    out.fields([
      ['fingerprint', renewed.fingerprint],
      ['expires', renewed.notAfter.toISOString()],
      ['superseded', renewed.previousFingerprint],
      ['key', `${files.key} (${flagOption(invocation.values, 'same-key') ? 'kept' : 'new, made here; only a CSR was sent'})`],
      ['certificate', files.cert],
      ['previous pair', `${previous(files.key)}, ${previous(files.cert)}`],
    ]);
  }
  return 0;
}

/** key.pem → key.prev.pem; a name without .pem gets .prev appended. */
function previous(path: string): string {
  return /\.pem$/.test(path) ? path.replace(/\.pem$/, '.prev.pem') : `${path}.prev`;
}

import { readFileSync } from 'node:fs';
import { type VerifyCertificateResponse, VerifyCertificateResponseSchema } from '../../gen/atr/v1/verify_pb.js';
import { type Command, soleArgument } from './command.ts';
import { type Field, reasonWord, statusWord, time } from './output.ts';

const verify: Command = {
  name: 'verify',
  synopsis: '<cert.pem | ->',
  summary: "check a certificate against the registry's CA and state; exit 0 when verified, 1 when refused",
  options: {},
  arity: 1,
  async run(invocation) {
    const path = soleArgument(invocation);
    const certPem = readFileSync(path === '-' ? 0 : path, 'utf8');
    const response = await invocation.clients().verify.verifyCertificate({ certPem });
    if (invocation.out.json) invocation.out.message(VerifyCertificateResponseSchema, response);
    else invocation.out.fields(verificationFields(response));
    return response.verified ? 0 : 1;
  },
};

export const verifyCommands: readonly Command[] = [verify];

export function verificationFields(response: VerifyCertificateResponse): Field[] {
  return [
    ['result', response.verified ? 'verified' : 'refused'],
    ['reason', reasonWord(response.reason)],
    ['message', response.message],
    ['agent', response.agentName],
    ['status', response.agentName === '' ? undefined : statusWord(response.status)],
    ['expires', time(response.expiresAt)],
    ['fingerprint', response.certFingerprint],
    ['serial', response.certSerial],
  ];
}

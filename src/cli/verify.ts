import { readFileSync } from 'node:fs';
import { type VerifyCertificateResponse, VerifyCertificateResponseSchema, VerifyService } from '../../gen/atr/v1/verify_pb.js';
import { type Invocation, soleArgument } from './command.ts';
import { type Field, reasonWord, statusWord, time } from './output.ts';

export async function verify(invocation: Invocation): Promise<number> {
  const path = soleArgument(invocation);
  const certPem = readFileSync(path === '-' ? 0 : path, 'utf8');
  const response = await invocation.client(VerifyService).verifyCertificate({ certPem });
  if (invocation.out.json) invocation.out.message(VerifyCertificateResponseSchema, response);
  else invocation.out.fields(verificationFields(response));
  return response.verified ? 0 : 1;
}

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

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { RevocationList } from '../registry/revocation-list.ts';

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

export const INTERMEDIATE_CRL_PREFIX = '/v1/crl/';

/**
 * GET /v1/crl/<serial>: the CRL of the registry's intermediate with that serial (lowercase hex), DER, as every agent
 * certificate's distribution point names its issuer's; /v1/crl stays the current intermediate's. An intermediate
 * rotated away from is served until it expires, with its certificates. False (404) for any other serial.
 */
export function intermediateCrlRoute(revocationList: RevocationList) {
  return async (_req: Request, res: Response, path: string): Promise<boolean> => {
    const serial = path.slice(INTERMEDIATE_CRL_PREFIX.length);
    const crl = /^[0-9a-f]{2,40}$/.test(serial) ? revocationList.of(serial) : undefined;
    if (crl === undefined) return false;
    const der = await crl;
    res.writeHead(200, { 'content-type': 'application/pkix-crl', 'cache-control': 'no-cache' });
    res.end(der);
    return true;
  };
}

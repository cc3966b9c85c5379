import { connect } from 'node:net';
import type { WhoisSummary } from './store.ts';

/** Supplementary evidence about a domain; a lookup never fails a verification, it only records what it found. */
export interface WhoisLookup {
  lookup(domain: string): Promise<WhoisSummary>;
}

const MAX_BYTES = 64 * 1024;

// The labels registries use (RFC 3912 leaves the answer's format to each server): gTLD registries write
// "Registrar:" and "Creation Date:", many ccTLDs "registrar:" and "created:".
const REGISTRAR = /^\s*(?:registrar|sponsoring registrar|registrar name)\s*:\s*(.+?)\s*$/im;
const CREATED = /^\s*(?:creation date|created|created on|registered on|registration time|domain registration date)\s*:\s*(.+?)\s*$/im;

/** WHOIS over TCP (RFC 3912): the domain and CRLF, then read until the server closes, within size and time limits. */
export class TcpWhois implements WhoisLookup {
  constructor(
    private readonly server: string,
    private readonly timeoutMs = 5000,
  ) {}

  lookup(domain: string): Promise<WhoisSummary> {
    const { host, port } = splitServer(this.server);
    const summary = (fields: Partial<WhoisSummary>): WhoisSummary => ({ server: this.server, registrar: '', created: '', error: '', ...fields });
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const socket = connect({ host, port });
      const finish = (result: WhoisSummary) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => finish(summary({ error: `no complete answer within ${this.timeoutMs} ms` })), this.timeoutMs);
      socket.on('connect', () => socket.write(`${domain}\r\n`));
      socket.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BYTES) return finish(summary({ error: `the answer is over ${MAX_BYTES} bytes` }));
        chunks.push(chunk);
      });
      socket.on('error', (error: NodeJS.ErrnoException) => finish(summary({ error: error.code ?? error.message })));
      socket.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const registrar = REGISTRAR.exec(text)?.[1] ?? '';
        const created = CREATED.exec(text)?.[1] ?? '';
        finish(summary({ registrar: registrar.slice(0, 255), created: created.slice(0, 64), error: registrar || created ? '' : 'no registrar or creation date in the answer' }));
      });
    });
  }
}

function splitServer(server: string): { host: string; port: number } {
  const match = /^\[?(.+?)\]?:(\d+)$/.exec(server);
  return match?.[1] === undefined ? { host: server, port: 43 } : { host: match[1], port: Number(match[2]) };
}

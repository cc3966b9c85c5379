import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

/** What one resolver answered: the records (none for NXDOMAIN or NODATA), or why it gave no answer. */
export type ResolverReply<T> =
  | { readonly resolver: string; readonly answered: true; readonly records: readonly T[] }
  | { readonly resolver: string; readonly answered: false; readonly error: string };

// NXDOMAIN and NODATA are answers (there is nothing); SERVFAIL, REFUSED, timeouts and refused connections are not.
const EMPTY_ANSWERS = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * The resolvers domain validation asks (DNS_RESOLVER), each on its own so that their answers can be compared: a
 * challenge counts only when every resolver that answers sees it, which takes more than one vantage point to fool.
 * Without DNS_RESOLVER, the system's resolvers, as one vantage point.
 */
export class Resolvers {
  private readonly resolvers: readonly { readonly name: string; readonly resolver: Resolver }[];

  constructor(servers: readonly string[], timeoutMs = 3000) {
    const make = (name: string, server?: string) => {
      const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
      if (server !== undefined) resolver.setServers([server]);
      return { name, resolver };
    };
    this.resolvers = servers.length === 0 ? [make('system')] : servers.map((server) => make(server, checkedServer(server)));
  }

  /** The TXT records at the name, each record's strings joined, from every resolver. */
  txt(name: string): Promise<ResolverReply<string>[]> {
    return this.ask(async (resolver) => (await resolver.resolveTxt(name)).map((chunks) => chunks.join('')));
  }

  /** The name's IPv4 and IPv6 addresses, from every resolver. */
  addresses(name: string): Promise<ResolverReply<string>[]> {
    return this.ask(async (resolver) => {
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
      if (v4.status === 'rejected' && v6.status === 'rejected') throw v4.reason;
      return [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    });
  }

  private ask(query: (resolver: Resolver) => Promise<string[]>): Promise<ResolverReply<string>[]> {
    return Promise.all(
      this.resolvers.map(async ({ name, resolver }): Promise<ResolverReply<string>> => {
        try {
          return { resolver: name, answered: true, records: await query(resolver) };
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? '';
          if (EMPTY_ANSWERS.has(code)) return { resolver: name, answered: true, records: [] };
          return { resolver: name, answered: false, error: code || (error as Error).message };
        }
      }),
    );
  }
}

/** A resolver as node's resolver takes it: an IP address, with its port. */
function checkedServer(server: string): string {
  const host = /^\[?([^\]]+?)\]?(?::\d+)?$/.exec(server)?.[1] ?? server;
  if (isIP(host) === 0) throw new Error(`DNS_RESOLVER: ${server} must be an IP address (host names cannot be asked for themselves)`);
  return server;
}

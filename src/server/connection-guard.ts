import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { canonicalAddress } from './client-address.ts';

export interface ConnectionCaps {
  /** Open connections accepted in all, over every listener that shares the guard. */
  readonly maxConnections: number;
  /** Open connections accepted from one client address. */
  readonly maxPerClient: number;
  /**
   * Peers exempt from maxPerClient: trusted proxies, whose connections carry many clients each (the client a request
   * names is known only once its headers are read, after the connection is accepted). They count in maxConnections.
   */
  readonly uncapped?: (address: string) => boolean;
}

export type ConnectionRefusal = 'total' | 'per_client';

/**
 * Counts the open connections of the listeners that share it, in all and per client address, and closes a new
 * connection at once when either cap is reached: one client cannot take every file descriptor, and the process
 * keeps descriptors for its database, its logs and the clients that are within their share.
 */
export class ConnectionGuard {
  private open = 0;
  private readonly perClient = new Map<string, number>();
  private readonly refused = new Map<ConnectionRefusal, number>();

  constructor(private readonly caps: ConnectionCaps) {}

  /** Counts the socket until it closes; or destroys it and returns false when a cap is reached. */
  admit(socket: Socket): boolean {
    const client = canonicalAddress(socket.remoteAddress ?? 'unknown');
    const fromClient = this.perClient.get(client) ?? 0;
    const overShare = fromClient >= this.caps.maxPerClient && !(this.caps.uncapped?.(client) ?? false);
    const refusal: ConnectionRefusal | undefined = this.open >= this.caps.maxConnections ? 'total' : overShare ? 'per_client' : undefined;
    if (refusal !== undefined) {
      this.refused.set(refusal, (this.refused.get(refusal) ?? 0) + 1);
      socket.destroy();
      return false;
    }
    this.open += 1;
    this.perClient.set(client, fromClient + 1);
    socket.once('close', () => {
      this.open -= 1;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left === 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
    });
    return true;
  }

  openConnections(): number {
    return this.open;
  }

  /** Connections closed at accept since start, by the cap that closed them. */
  refusals(): Record<string, number> {
    return Object.fromEntries(this.refused);
  }
}

/**
 * MAX_CONNECTIONS=0: three quarters of the process's open-file limit, leaving the rest for the database, log
 * files and outgoing connections; 10,000 where the limit cannot be read.
 */
export function defaultMaxConnections(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    if (soft !== undefined) return Math.max(16, Math.floor((Number(soft) * 3) / 4));
  } catch {
    // Not Linux: no /proc.
  }
  return 10_000;
}

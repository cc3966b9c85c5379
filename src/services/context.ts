import { createContextKey, type HandlerContext } from '@connectrpc/connect';

/** The client's network address, set by the listener for every request (REST included). */
export const clientAddressKey = createContextKey<string>('unknown', { description: 'client address' });

/** Who is asking, as written into the audit trail. Callers are anonymous until API keys arrive. */
export function actorOf(context: HandlerContext): string {
  return `anonymous@${context.values.get(clientAddressKey)}`;
}

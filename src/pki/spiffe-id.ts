/** The SPIFFE ID an agent's certificate carries in its URI SAN. */
export function spiffeIdOf(trustDomain: string, agentName: string): string {
  return `spiffe://${trustDomain}/agent/${agentName}`;
}

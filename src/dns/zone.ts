// The zones the registry publishes in, and what the built-in server reads of them.
import type { RRset } from './rrset.ts';

/** A DNS name as the registry stores it: lowercase, no trailing dot. */
export function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The zone (of `zones`) that holds `name`: the longest apex that is the name or one of its ancestors. */
export function zoneOf(name: string, zones: readonly string[]): string | undefined {
  const wanted = canonicalName(name);
  let best: string | undefined;
  for (const zone of zones) {
    if ((wanted === zone || wanted.endsWith(`.${zone}`)) && (best === undefined || zone.length > best.length)) best = zone;
  }
  return best;
}

/**
 * What the built-in authoritative server answers from: the zones' published RRsets, in memory. SOA, NS and
 * DNSSEC records are the server's own and not in here.
 */
export interface ZoneView {
  /** The apexes served. */
  readonly apexes: readonly string[];
  /**
   * The RRsets owned by `name` (canonical): undefined when no such name exists in the zone (NXDOMAIN); an empty
   * list when it exists only because names below it do (an empty non-terminal: NODATA).
   */
  rrsetsAt(name: string): readonly RRset[] | undefined;
  /** The zone's SOA serial: it grows with every change to the zone. */
  serial(apex: string): number;
}

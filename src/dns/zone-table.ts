// The built-in server's zones in memory: whole RRsets by owner name, and the empty non-terminals their names
// imply, so a query is one Map lookup. Whoever holds the published records (the database) feeds it changes.
import type { PublishedType, RRset, ZoneChange } from './rrset.ts';
import { toPacketAnswers } from './wire.ts';
import { canonicalName, type ZoneView, zoneOf } from './zone.ts';

export class ZoneTable implements ZoneView {
  readonly apexes: readonly string[];
  /** Owner name -> its RRsets by type; a name is here only while it owns at least one. */
  readonly #owned = new Map<string, Map<PublishedType, RRset>>();
  /** Name -> how many owners lie below it: a name with a count and no RRsets is an empty non-terminal. */
  readonly #below = new Map<string, number>();
  readonly #serials = new Map<string, number>();

  constructor(apexes: readonly string[]) {
    this.apexes = [...new Set(apexes.map(canonicalName))];
    for (const apex of this.apexes) this.#serials.set(apex, 0);
  }

  /**
   * Replaces or removes whole RRsets of one zone and sets its serial. A serial names one content of the zone
   * (answers are cached by it), so it must not go backwards; applying a change again with the same serial is
   * allowed, for retries.
   */
  apply(change: ZoneChange, serial: number): void {
    const zone = canonicalName(change.zone);
    const current = this.#serials.get(zone);
    if (current === undefined) throw new Error(`zone ${JSON.stringify(change.zone)}: not one of the served zones (${this.apexes.join(', ')})`);
    if (!Number.isSafeInteger(serial) || serial < current) throw new Error(`zone ${zone}: serial ${serial} is not an integer at least the current ${current}`);
    const sets = [...change.remove.map((rrset) => ({ rrset, keep: false })), ...change.upsert.map((rrset) => ({ rrset, keep: true }))];
    for (const { rrset, keep } of sets) {
      const owner = canonicalName(rrset.name);
      if (zoneOf(owner, this.apexes) !== zone) throw new Error(`RRset ${rrset.name} ${rrset.type}: not in zone ${zone}`);
      if (keep) toPacketAnswers(rrset); // throws, naming the rule, on data DNS cannot carry: refused here, not at query time
    }
    for (const { rrset, keep } of sets) {
      const owner = canonicalName(rrset.name);
      if (keep && rrset.records.length > 0) this.#put({ ...rrset, name: owner });
      else this.#drop(owner, rrset.type);
    }
    this.#serials.set(zone, serial);
  }

  rrsetsAt(name: string): readonly RRset[] | undefined {
    const owned = this.#owned.get(name);
    if (owned !== undefined) return [...owned.values()];
    if (this.#below.has(name) || this.#serials.has(name)) return [];
    return undefined;
  }

  serial(apex: string): number {
    return this.#serials.get(apex) ?? 0;
  }

  #put(rrset: RRset): void {
    let owned = this.#owned.get(rrset.name);
    if (owned === undefined) {
      owned = new Map();
      this.#owned.set(rrset.name, owned);
      this.#countAncestors(rrset.name, +1);
    }
    owned.set(rrset.type, rrset);
  }

  #drop(owner: string, type: PublishedType): void {
    const owned = this.#owned.get(owner);
    if (owned === undefined || !owned.delete(type) || owned.size > 0) return;
    this.#owned.delete(owner);
    this.#countAncestors(owner, -1);
  }

  /** Counts an owner in every ancestor up to (not including) its zone's apex, which always exists. */
  #countAncestors(owner: string, delta: 1 | -1): void {
    const apex = zoneOf(owner, this.apexes);
    if (owner === apex) return;
    for (let name = parentOf(owner); name !== undefined && name !== apex; name = parentOf(name)) {
      const count = (this.#below.get(name) ?? 0) + delta;
      if (count > 0) this.#below.set(name, count);
      else this.#below.delete(name);
    }
  }
}

function parentOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot < 0 ? undefined : name.slice(dot + 1);
}

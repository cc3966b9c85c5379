// The built-in server's in-memory zones: whole RRsets replaced and removed, empty non-terminals appearing and
// going with the names below them, serials, and changes refused with the rule they break.
import { describe, expect, it } from 'vitest';
import type { RRset } from '../../src/dns/rrset.ts';
import { ZoneTable } from '../../src/dns/zone-table.ts';

const ZONE = 'agents.example.com';
const txt = (name: string, ...strings: string[]): RRset => ({ name, type: 'TXT', ttl: 60, records: [{ strings }] });

describe('ZoneTable', () => {
  it('serves the apex of each zone (existing, empty), and nothing outside', () => {
    const table = new ZoneTable(['Agents.Example.com.', 'other.test']);
    expect(table.apexes).toEqual([ZONE, 'other.test']);
    expect(table.rrsetsAt(ZONE)).toEqual([]);
    expect(table.rrsetsAt(`x.${ZONE}`)).toBeUndefined();
    expect(table.rrsetsAt('example.com')).toBeUndefined();
    expect(table.serial(ZONE)).toBe(0);
  });

  it('makes every name between an owner and the apex exist, and forgets them when the owner goes', () => {
    const table = new ZoneTable([ZONE]);
    table.apply({ zone: ZONE, upsert: [txt(`_atr.a.b.${ZONE}`, 'one'), txt(`_atr.c.b.${ZONE}`, 'two')], remove: [] }, 1);
    expect(table.rrsetsAt(`_atr.a.b.${ZONE}`)).toEqual([txt(`_atr.a.b.${ZONE}`, 'one')]);
    expect(table.rrsetsAt(`a.b.${ZONE}`)).toEqual([]);
    expect(table.rrsetsAt(`b.${ZONE}`)).toEqual([]);
    expect(table.rrsetsAt(`x.b.${ZONE}`)).toBeUndefined();
    table.apply({ zone: ZONE, upsert: [], remove: [txt(`_atr.a.b.${ZONE}`)] }, 2);
    expect(table.rrsetsAt(`_atr.a.b.${ZONE}`)).toBeUndefined();
    expect(table.rrsetsAt(`a.b.${ZONE}`)).toBeUndefined();
    expect(table.rrsetsAt(`b.${ZONE}`)).toEqual([]); // still above _atr.c.b
    table.apply({ zone: ZONE, upsert: [], remove: [txt(`_atr.c.b.${ZONE}`)] }, 3);
    expect(table.rrsetsAt(`b.${ZONE}`)).toBeUndefined();
    expect(table.rrsetsAt(ZONE)).toEqual([]);
  });

  it('replaces a whole RRset, keeps other types at the name, and treats an empty upsert as a removal', () => {
    const table = new ZoneTable([ZONE]);
    const name = `_443._tcp.a.${ZONE}`;
    const tlsa: RRset = { name, type: 'TLSA', ttl: 60, records: [{ usage: 3, selector: 1, matchingType: 1, data: 'aa'.repeat(32) }] };
    table.apply({ zone: ZONE, upsert: [tlsa, txt(name, 'x')], remove: [] }, 1);
    table.apply({ zone: ZONE, upsert: [txt(name, 'y', 'z')], remove: [] }, 2);
    expect(table.rrsetsAt(name)).toEqual([tlsa, txt(name, 'y', 'z')]);
    table.apply({ zone: ZONE, upsert: [{ name, type: 'TLSA', ttl: 60, records: [] }], remove: [] }, 3);
    expect(table.rrsetsAt(name)).toEqual([txt(name, 'y', 'z')]);
    // Removing what is not there, or applying the same change again, succeeds (providers' apply is idempotent).
    table.apply({ zone: ZONE, upsert: [], remove: [tlsa, txt(`nothing.${ZONE}`)] }, 3);
    expect(table.serial(ZONE)).toBe(3);
  });

  it('stores names as canonical: lowercase, no trailing dot', () => {
    const table = new ZoneTable([ZONE]);
    table.apply({ zone: 'AGENTS.example.com.', upsert: [txt('_ATR.A.Agents.Example.Com.', 'x')], remove: [] }, 1);
    expect(table.rrsetsAt(`_atr.a.${ZONE}`)?.[0]?.name).toBe(`_atr.a.${ZONE}`);
  });

  it('counts owners at the apex and in a zone nested in another apart', () => {
    const table = new ZoneTable([ZONE, `sub.${ZONE}`]);
    table.apply({ zone: ZONE, upsert: [txt(ZONE, 'apex')], remove: [] }, 1);
    table.apply({ zone: `sub.${ZONE}`, upsert: [txt(`x.y.sub.${ZONE}`, 'deep')], remove: [] }, 1);
    expect(table.rrsetsAt(ZONE)).toEqual([txt(ZONE, 'apex')]);
    expect(table.rrsetsAt(`y.sub.${ZONE}`)).toEqual([]);
    expect(table.serial(`sub.${ZONE}`)).toBe(1);
  });

  it('refuses changes that break a rule, naming it, and changes nothing', () => {
    const table = new ZoneTable([ZONE]);
    table.apply({ zone: ZONE, upsert: [txt(`a.${ZONE}`, 'kept')], remove: [] }, 5);
    expect(() => table.apply({ zone: 'example.org', upsert: [], remove: [] }, 6)).toThrow(/not one of the served zones/);
    expect(() => table.apply({ zone: ZONE, upsert: [txt('a.example.org', 'x')], remove: [] }, 6)).toThrow(/not in zone agents\.example\.com/);
    expect(() => table.apply({ zone: ZONE, upsert: [txt(`a.${ZONE}`, 'x')], remove: [] }, 4)).toThrow(/serial 4 is not an integer at least the current 5/);
    expect(() => table.apply({ zone: ZONE, upsert: [txt(`b.${ZONE}`, 'ok'), txt(`a.${ZONE}`, 'x'.repeat(256))], remove: [] }, 6)).toThrow(/at most 255 bytes/);
    expect(table.rrsetsAt(`a.${ZONE}`)).toEqual([txt(`a.${ZONE}`, 'kept')]);
    expect(table.rrsetsAt(`b.${ZONE}`)).toBeUndefined();
    expect(table.serial(ZONE)).toBe(5);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entriesTilePath, parseTilePath, TILE_HEIGHT, TILE_WIDTH, tileNodeRange, tilePath } from '../../src/tlog/tile-path.ts';

describe('tlog-tiles paths', () => {
  it('encodes the index in 3-digit groups, x-prefixed but the last', () => {
    expect(tilePath({ level: 0, index: 1234067 })).toBe('tile/0/x001/x234/067');
    expect(tilePath({ level: 0, index: 0 })).toBe('tile/0/000');
    expect(tilePath({ level: 1, index: 1 })).toBe('tile/1/001');
    expect(tilePath({ level: 2, index: 999 })).toBe('tile/2/999');
    expect(tilePath({ level: 3, index: 1000 })).toBe('tile/3/x001/000');
    expect(tilePath({ level: 63, index: Number.MAX_SAFE_INTEGER })).toBe('tile/63/x009/x007/x199/x254/x740/991');
    expect(entriesTilePath(1234067)).toBe('tile/entries/x001/x234/067');
  });

  it('marks partial tiles with their width, and full ones with none', () => {
    expect(tilePath({ level: 0, index: 1, width: 44 })).toBe('tile/0/001.p/44');
    expect(tilePath({ level: 1, index: 0, width: 1 })).toBe('tile/1/000.p/1');
    expect(tilePath({ level: 0, index: 5, width: 255 })).toBe('tile/0/005.p/255');
    expect(tilePath({ level: 0, index: 5, width: TILE_WIDTH })).toBe('tile/0/005');
    expect(entriesTilePath(1234067, 7)).toBe('tile/entries/x001/x234/067.p/7');
  });

  it('parses what it formats', () => {
    expect(parseTilePath('tile/0/x001/x234/067')).toEqual({ level: 0, index: 1234067 });
    expect(parseTilePath('tile/entries/x001/x234/067.p/255')).toEqual({ level: 'entries', index: 1234067, width: 255 });
    const tile = fc.record(
      { level: fc.integer({ min: 0, max: 63 }), index: fc.maxSafeNat(), width: fc.integer({ min: 1, max: 255 }) },
      { requiredKeys: ['level', 'index'] },
    );
    fc.assert(
      fc.property(tile, fc.boolean(), (t, entries) => {
        const path = entries ? entriesTilePath(t.index, t.width) : tilePath(t);
        expect(parseTilePath(path)).toEqual({ ...t, ...(entries && { level: 'entries' }) });
      }),
    );
  });

  it.each([
    ['tile/0/1', 'an index that is not zero-padded'],
    ['tile/0/0001', 'a 4-digit group'],
    ['tile/0/x000/001', 'a leading zero group'],
    ['tile/0/x001', 'an x on the last group'],
    ['tile/0/001/234', 'no x on a group before the last'],
    ['tile/0/x1/234', 'a short x group'],
    ['tile/00/000', 'a zero-padded level'],
    ['tile/01/000', 'a level with a leading zero'],
    ['tile/64/000', 'level 64'],
    ['tile/-1/000', 'a negative level'],
    ['tile/0/000.p/0', 'width 0'],
    ['tile/0/000.p/256', 'width 256'],
    ['tile/0/000.p/012', 'a width with a leading zero'],
    ['tile/0/000.p/', 'an empty width'],
    ['tile/0/000.p', 'a width marker without a width'],
    ['tile/0/x009/x007/x199/x254/x740/992', 'an index of 2^53'],
    ['tile/entry/000', 'a misspelt entries'],
    ['/tile/0/000', 'a leading slash'],
    ['tile/0/000/', 'a trailing slash'],
    ['TILE/0/000', 'upper case'],
    ['tile/0/000?x=1', 'a query'],
    ['tile/0', 'no index'],
    ['', 'nothing'],
  ])('refuses %j: %s', (path) => {
    expect(parseTilePath(path)).toBeUndefined();
  });

  it('formats only valid tiles', () => {
    expect(() => tilePath({ level: 64, index: 0 })).toThrow(RangeError);
    expect(() => tilePath({ level: 0.5, index: 0 })).toThrow(RangeError);
    expect(() => tilePath({ level: 0, index: -1 })).toThrow(RangeError);
    expect(() => tilePath({ level: 0, index: 2 ** 53 })).toThrow(RangeError);
    expect(() => tilePath({ level: 0, index: 0, width: 0 })).toThrow(RangeError);
    expect(() => tilePath({ level: 0, index: 0, width: 257 })).toThrow(RangeError);
    expect(() => entriesTilePath(0, 1.5)).toThrow(RangeError);
  });

  it('maps a tile to the tree nodes it holds: level 8L, 256 per tile', () => {
    expect(TILE_HEIGHT).toBe(8);
    expect(tileNodeRange({ level: 0, index: 3 })).toEqual({ level: 0, from: 768, count: 256 });
    expect(tileNodeRange({ level: 2, index: 1, width: 17 })).toEqual({ level: 16, from: 256, count: 17 });
  });
});

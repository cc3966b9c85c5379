// Resource paths of C2SP tlog-tiles (c2sp.org/tlog-tiles), relative to the log's prefix. A tile at level L
// holds the hashes of tree nodes at level 8·L: tile L/N is nodes (8L, N·256 .. N·256 + W - 1), full when
// W is 256. Each resource has exactly one path, so parsing accepts only what formatting produces.

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
const MAX_LEVEL = 63;

export interface TileId {
  readonly level: number;
  readonly index: number;
  /** 1..255 for a partial tile; absent (or 256) for a full one. */
  readonly width?: number;
}

export interface ParsedTilePath {
  readonly level: number | 'entries';
  readonly index: number;
  /** Present only for partial tiles. */
  readonly width?: number;
}

// L and W without leading zeros; N as groups of three digits, all but the last prefixed with x.
const TILE_PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/** `tile/<L>/<N>[.p/<W>]`, e.g. tile/0/x001/x234/067 for tile 1234067 of level 0. */
export function tilePath(tile: TileId): string {
  if (!Number.isInteger(tile.level) || tile.level < 0 || tile.level > MAX_LEVEL) {
    throw new RangeError(`tile level ${tile.level} is not an integer from 0 to ${MAX_LEVEL}`);
  }
  return `tile/${tile.level}/${encodeIndex(tile.index)}${widthSuffix(tile.width)}`;
}

/** `tile/entries/<N>[.p/<W>]`: the bundle of the entries behind level-0 tile N. */
export function entriesTilePath(index: number, width?: number): string {
  return `tile/entries/${encodeIndex(index)}${widthSuffix(width)}`;
}

/** The tile a path names, or undefined unless the path is exactly as the spec encodes it. */
export function parseTilePath(path: string): ParsedTilePath | undefined {
  const match = TILE_PATH.exec(path);
  if (!match) return undefined;
  const [, levelText = '', indexText = '', widthText] = match;
  const level = levelText === 'entries' ? levelText : Number(levelText);
  const index = Number(indexText.replace(/[x/]/g, ''));
  const width = widthText === undefined ? undefined : Number(widthText);
  if (level !== 'entries' && level > MAX_LEVEL) return undefined;
  if (!Number.isSafeInteger(index) || (width !== undefined && width >= TILE_WIDTH)) return undefined;
  // N has one spelling: x000/001 is not tile 1.
  if (`tile/${levelText}/${encodeIndex(index)}${widthSuffix(width)}` !== path) return undefined;
  return width === undefined ? { level, index } : { level, index, width };
}

/** The tree nodes a tile holds, as the storage reads them: `count` nodes of `level` from index `from`. */
export function tileNodeRange(tile: TileId): { level: number; from: number; count: number } {
  return { level: tile.level * TILE_HEIGHT, from: tile.index * TILE_WIDTH, count: tile.width ?? TILE_WIDTH };
}

/** Zero-padded groups of three digits, all but the last prefixed with x: 1234067 -> x001/x234/067. */
function encodeIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`tile index ${index} is not a non-negative integer`);
  const digits = String(index);
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = padded.match(/[0-9]{3}/g) ?? [];
  return groups.map((group, i) => (i < groups.length - 1 ? `x${group}` : group)).join('/');
}

function widthSuffix(width: number | undefined): string {
  if (width === undefined || width === TILE_WIDTH) return '';
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH - 1) {
    throw new RangeError(`a partial tile has 1 to ${TILE_WIDTH - 1} hashes, not ${width}`);
  }
  return `.p/${width}`;
}

import { describe, expect, it } from 'vitest';
import { CheckpointError, formatCheckpoint, parseCheckpoint } from '../../src/tlog/checkpoint.ts';

// The body of the c2sp.org/tlog-checkpoint example.
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const ROOT = Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64');

describe('checkpoints', () => {
  it('parses the spec example', () => {
    const checkpoint = parseCheckpoint(SPEC_BODY);
    expect(checkpoint.origin).toBe('example.com/behind-the-sofa');
    expect(checkpoint.size).toBe(20852163);
    expect(Buffer.from(checkpoint.rootHash)).toEqual(ROOT);
    expect(checkpoint.extensions).toEqual([]);
  });

  it('formats origin, decimal size and base64 root, one per line', () => {
    expect(formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: ROOT })).toBe(SPEC_BODY);
    expect(formatCheckpoint({ origin: 'atr.example/log', size: 0, rootHash: new Uint8Array(32) })).toBe(
      'atr.example/log\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n',
    );
  });

  it('round-trips, extension lines and the largest size included', () => {
    const checkpoint = { origin: 'atr.example/log', size: Number.MAX_SAFE_INTEGER, rootHash: ROOT, extensions: ['ext one', '\u2014 two'] };
    const text = formatCheckpoint(checkpoint);
    expect(text).toBe(`atr.example/log\n9007199254740991\n${ROOT.toString('base64')}\next one\n\u2014 two\n`);
    const parsed = parseCheckpoint(text);
    expect({ ...parsed, rootHash: Buffer.from(parsed.rootHash) }).toEqual(checkpoint);
  });

  const root = ROOT.toString('base64');
  it.each([
    ['no final newline', `o\n1\n${root}`],
    ['two lines', 'o\n1\n'],
    ['an empty origin', `\n1\n${root}\n`],
    ['a leading zero in the size', `o\n01\n${root}\n`],
    ['a signed size', `o\n+1\n${root}\n`],
    ['a negative size', `o\n-1\n${root}\n`],
    ['a fractional size', `o\n1.0\n${root}\n`],
    ['an exponent size', `o\n1e3\n${root}\n`],
    ['spaces around the size', `o\n 1\n${root}\n`],
    ['an empty size', `o\n\n${root}\n`],
    ['a size of 2^53', `o\n9007199254740992\n${root}\n`],
    ['a 31-byte root', `o\n1\n${Buffer.alloc(31).toString('base64')}\n`],
    ['a 33-byte root', `o\n1\n${Buffer.alloc(33).toString('base64')}\n`],
    ['a root without padding', `o\n1\n${root.slice(0, -1)}\n`],
    ['a root in base64url', `o\n1\n${ROOT.toString('base64url')}=\n`],
    ['a root with non-canonical trailing bits', `o\n1\n${root.slice(0, -2)}J=\n`],
    ['a hex root', `o\n1\n${ROOT.toString('hex')}\n`],
    ['an empty extension line', `o\n1\n${root}\n\n`],
    ['an empty line between extensions', `o\n1\n${root}\na\n\nb\n`],
    ['a carriage return', `o\r\n1\n${root}\n`],
    ['a tab in the origin', `o\tp\n1\n${root}\n`],
  ])('refuses a checkpoint with %s', (_, text) => {
    expect(() => parseCheckpoint(text)).toThrow(CheckpointError);
  });

  it('formats only what it could parse back', () => {
    expect(() => formatCheckpoint({ origin: '', size: 1, rootHash: ROOT })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash: ROOT })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'o', size: -1, rootHash: ROOT })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1.5, rootHash: ROOT })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'o', size: 2 ** 53, rootHash: ROOT })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: new Uint8Array(31) })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: ROOT, extensions: [''] })).toThrow(RangeError);
    expect(() => formatCheckpoint({ origin: 'o', size: 1, rootHash: ROOT, extensions: ['a\nb'] })).toThrow(RangeError);
  });
});

import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createNoteSigner, NoteError, openNote, parseVerifierKey, signNote } from '../../src/tlog/note.ts';

// The example of c2sp.org/signed-note, section "Verifier keys": this key verifies this note.
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_NOTE =
  'This is an example message.\n' +
  '\n' +
  '\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

const NAME = 'atr.example/log';
const TEXT = 'atr.example/log\n42\nq7+Tm8QKcRNCp3YwX1xfC5LaC9c0ZNCUaThSBtqJ9mw=\n';

const newKey = (): KeyObject => generateKeyPairSync('ed25519').privateKey;
const rawPublicKey = (key: KeyObject) => Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url');
/** The spec's Ed25519 key ID, computed here independently: SHA-256(name || 0x0A || 0x01 || key)[:4]. */
const keyIdOf = (name: string, publicKey: Uint8Array) =>
  createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.of(0x01), publicKey])).digest().subarray(0, 4);

/** Splits a one-signature note into its text and the decoded bytes of its signature. */
function signatureOf(note: string): { prefix: string; bytes: Buffer } {
  const line = note.slice(note.lastIndexOf('\n\n') + 2, -1);
  const space = line.lastIndexOf(' ');
  return { prefix: note.slice(0, note.length - line.length - 1 + space + 1), bytes: Buffer.from(line.slice(space + 1), 'base64') };
}

describe('the C2SP signed-note example', () => {
  it('verifies with our code', () => {
    expect(openNote(SPEC_NOTE, SPEC_VKEY)).toEqual({ text: 'This is an example message.\n' });
  });

  it('has the key ID the spec derives from the key name and key', () => {
    const key = parseVerifierKey(SPEC_VKEY);
    expect(key.name).toBe('example.com/foo');
    const raw = Buffer.from('AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'base64');
    expect(raw[0]).toBe(0x01);
    expect(Buffer.from(key.keyId).toString('hex')).toBe('530d903a');
    expect(keyIdOf('example.com/foo', raw.subarray(1)).toString('hex')).toBe('530d903a');
    expect(rawPublicKey(key.publicKey)).toEqual(raw.subarray(1));
  });

  it('fails once its text or signature is touched', () => {
    expect(() => openNote(SPEC_NOTE.replace('example message', 'exemplary message'), SPEC_VKEY)).toThrow(/does not verify/);
    const { prefix, bytes } = signatureOf(SPEC_NOTE);
    bytes[10]! ^= 1;
    expect(() => openNote(`${prefix}${bytes.toString('base64')}\n`, SPEC_VKEY)).toThrow(/does not verify/);
  });

  it("ignores the spec's other example, signed by a key we do not know", () => {
    const poem =
      'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u00e8 subito sera.\n\n' +
      '\u2014 quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';
    expect(() => openNote(poem, SPEC_VKEY)).toThrow(/no signature by example.com\/foo\+530d903a/);
    // Known signatures are found after unknown ones, and the text keeps its own blank line.
    const both = `${poem.slice(0, -1)}\n${SPEC_NOTE.slice(SPEC_NOTE.indexOf('\u2014'))}`;
    expect(() => openNote(both, SPEC_VKEY)).toThrow(/does not verify/); // the poem is not what example.com/foo signed
  });
});

describe('signing and opening notes', () => {
  const privateKey = newKey();
  const signer = createNoteSigner(NAME, privateKey);

  it('round-trips, texts with blank lines and non-ASCII included', () => {
    for (const text of [TEXT, 'a\n\nb\n', '\n', 'caf\u00e9 \u2014 \ud83d\ude00\n', 'x\n\n\n']) {
      expect(openNote(signNote(text, signer), signer.verifierKey)).toEqual({ text });
    }
  });

  it('writes text, a blank line and one signature line of key ID and Ed25519 signature', () => {
    const note = signNote(TEXT, signer);
    const { prefix, bytes } = signatureOf(note);
    expect(prefix).toBe(`${TEXT}\n\u2014 ${NAME} `);
    expect(bytes).toHaveLength(4 + 64);
    expect(bytes.subarray(0, 4)).toEqual(keyIdOf(NAME, rawPublicKey(privateKey)));
    expect(note.endsWith('\n')).toBe(true);
  });

  it('publishes the vkey and key ID the spec derives', () => {
    const raw = rawPublicKey(privateKey);
    const id = keyIdOf(NAME, raw);
    expect(Buffer.from(signer.keyId)).toEqual(id);
    expect(signer.verifierKey).toBe(`${NAME}+${id.toString('hex')}+${Buffer.concat([Buffer.of(1), raw]).toString('base64')}`);
    const parsed = parseVerifierKey(signer.verifierKey);
    expect(parsed.name).toBe(NAME);
    expect(Buffer.from(parsed.keyId)).toEqual(id);
    expect(rawPublicKey(parsed.publicKey)).toEqual(raw);
  });

  it("parses verifier keys whose base64 has a '+' in it", () => {
    // About half of all keys have one; the name and key ID never do.
    const keys = Array.from({ length: 40 }, () => createNoteSigner(NAME, newKey()));
    const withPlus = keys.find((other) => other.verifierKey.split('+').length > 3);
    expect(withPlus).toBeDefined();
    expect(openNote(signNote(TEXT, withPlus!), withPlus!.verifierKey)).toEqual({ text: TEXT });
  });

  it('refuses a note opened with the wrong key, or under another name', () => {
    const note = signNote(TEXT, signer);
    expect(() => openNote(note, createNoteSigner(NAME, newKey()).verifierKey)).toThrow(NoteError);
    expect(() => openNote(note, createNoteSigner('other.example/log', privateKey).verifierKey)).toThrow(/no signature by other.example\/log/);
  });

  it('refuses tampered text and tampered signatures', () => {
    const note = signNote(TEXT, signer);
    expect(() => openNote(note.replace('\n42\n', '\n43\n'), signer.verifierKey)).toThrow(/does not verify/);
    const { prefix, bytes } = signatureOf(note);
    for (const at of [0, 3, 4, 40, 67]) {
      const tampered = Buffer.from(bytes);
      tampered[at]! ^= 0x80;
      // A changed key ID makes the signature someone else's, so the note has none by this key.
      expect(() => openNote(`${prefix}${tampered.toString('base64')}\n`, signer.verifierKey)).toThrow(NoteError);
    }
    expect(() => openNote(`${prefix}${bytes.subarray(0, 60).toString('base64')}\n`, signer.verifierKey)).toThrow(/does not verify/);
  });

  it('ignores signatures by other keys, before or after', () => {
    const witness = createNoteSigner('witness.example', newKey());
    const note = `${signNote(TEXT, witness)}${signer.sign(TEXT)}\u2014 ${NAME} AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n`;
    expect(openNote(note, signer.verifierKey)).toEqual({ text: TEXT });
    expect(openNote(note, witness.verifierKey)).toEqual({ text: TEXT });
  });

  it('refuses the whole note when a signature by the trusted key fails, even beside a good one', () => {
    const { prefix, bytes } = signatureOf(signNote(TEXT, signer));
    bytes[20]! ^= 1;
    const note = `${prefix}${bytes.toString('base64')}\n${signer.sign(TEXT)}`;
    expect(() => openNote(note, signer.verifierKey)).toThrow(/does not verify/);
  });

  it.each([
    ['no blank line before the signatures', `${TEXT}${signer.sign(TEXT)}`.replace(/\n\n/g, '\n')],
    ['no final newline', signNote(TEXT, signer).slice(0, -1)],
    ['no signature lines', `${TEXT}\n`],
    ['a blank line after the signatures', `${signNote(TEXT, signer)}\n`],
    ['a hyphen for the em dash', signNote(TEXT, signer).replace('\u2014', '-')],
    ['two spaces after the dash', signNote(TEXT, signer).replace('\u2014 ', '\u2014  ')],
    ['a signature that is not base64', signNote(TEXT, signer).replace(/ (\S+)\n$/, ' $1!\n')],
    ['a signature without its padding', signNote(TEXT, signer).replace(/=\n$/, '\n')],
    ['a signature of only a key ID', `${TEXT}\n\u2014 ${NAME} AAAAAA==\n`],
    ['a tab in the text', signNote('ab\n', signer).replace('ab', 'a\tb')],
    ['a carriage return', signNote(TEXT, signer).replace(/\n$/, '\r\n')],
    ['an unpaired surrogate', `x\ud800\n${signNote(TEXT, signer).slice(TEXT.length)}`],
    ['65 signatures', `${TEXT}\n${`\u2014 w AAAAAAAA\n`.repeat(65)}`],
  ])('refuses a note with %s', (_, note) => {
    expect(() => openNote(note, signer.verifierKey)).toThrow(NoteError);
  });

  it('accepts at least 16 signatures', () => {
    const others = Array.from({ length: 15 }, (_, i) => `\u2014 witness${i}.example AAAAAAAAAAAA\n`).join('');
    expect(openNote(`${signNote(TEXT, signer)}${others}`, signer.verifierKey)).toEqual({ text: TEXT });
  });
});

describe('note arguments', () => {
  it('signs only note text', () => {
    const signer = createNoteSigner(NAME, newKey());
    expect(() => signNote('no newline', signer)).toThrow(RangeError);
    expect(() => signNote('a\u0000b\n', signer)).toThrow(RangeError);
    expect(() => signer.sign('a\rb\n')).toThrow(RangeError);
  });

  it.each(['', 'a b', 'a+b', 'a\u00a0b', 'a\nb', 'a\u0085b', 'a\u3000b'])('refuses the key name %j', (name) => {
    expect(() => createNoteSigner(name, newKey())).toThrow(RangeError);
  });

  it('signs with Ed25519 private keys only', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => createNoteSigner(NAME, ec.privateKey)).toThrow(TypeError);
    expect(() => createNoteSigner(NAME, generateKeyPairSync('ed25519').publicKey)).toThrow(TypeError);
  });

  const good = createNoteSigner(NAME, newKey()).verifierKey;
  const [name = '', id = '', key = ''] = /^([^+]*)\+([^+]*)\+(.*)$/.exec(good)?.slice(1) ?? [];
  const ed448 = Buffer.concat([Buffer.of(1), Buffer.alloc(56)]).toString('base64');
  const ecdsa = Buffer.concat([Buffer.of(2), Buffer.from(key, 'base64').subarray(1)]).toString('base64');
  it.each([
    ['two parts', `${name}+${id}`],
    ['an extra part', `${name}+${id}+AA+${key}`],
    ['an empty name', `+${id}+${key}`],
    ['a space in the name', `a b+${id}+${key}`],
    ['a short key ID', `${name}+${id.slice(1)}+${key}`],
    ['an uppercase key ID', SPEC_VKEY.replace('530d903a', '530D903A')],
    ['a key ID that is not derived from the key', `${name}+00000000+${key}`],
    ['another name for the key ID', `other.example+${id}+${key}`],
    ['a key that is not base64', `${name}+${id}+${key.slice(0, -1)}!`],
    ['a key of the wrong length', `${name}+${id}+${ed448}`],
    ['another signature type', `${name}+${id}+${ecdsa}`],
  ])('refuses a verifier key with %s', (_, vkey) => {
    expect(() => parseVerifierKey(vkey)).toThrow(NoteError);
  });
});

/** Header cards: parsing, typed access, formatting, long strings, HIERARCH, leniency. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BLOCK_LENGTH, encodeFits, formatCard, Header, parseCard, parseFits } from '../src/fits/index.ts';
import { BadInputError } from '../src/util/errors.ts';

/** Header text of cards (each padded to 80) plus END, in whole blocks. */
function headerBytes(cards: string[]): Uint8Array {
  const text = [...cards, 'END'].map((c) => c.padEnd(80)).join('');
  return Buffer.from(text.padEnd(Math.ceil(text.length / BLOCK_LENGTH) * BLOCK_LENGTH), 'latin1');
}

describe('header cards', () => {
  it('parses fixed-format values of every type', () => {
    const { header } = Header.parse(
      headerBytes([
        'SIMPLE  =                    T / conforms',
        'BITPIX  =                  -32',
        'NAXIS   =                    0',
        "OBJECT  = 'M31     '           / target",
        'EXPTIME =                 30.5 / seconds',
        'DBL     =            1.5D+03',
        'BIGINT  =  12345678901234567890',
        'UNDEF   =',
        'FLAG    =                    F',
        'CPLX    =           (1.0, 2.0)',
      ]),
    );
    assert.equal(header.boolean('SIMPLE'), true);
    assert.equal(header.integer('BITPIX'), -32);
    assert.equal(header.string('OBJECT'), 'M31');
    assert.equal(header.comment('OBJECT'), 'target');
    assert.equal(header.number('EXPTIME'), 30.5);
    assert.equal(header.number('DBL'), 1500);
    assert.equal(header.get('BIGINT'), 12345678901234567890n);
    assert.equal(header.get('UNDEF'), null);
    assert.equal(header.optionalNumber('UNDEF'), undefined);
    assert.equal(header.boolean('FLAG'), false);
    assert.equal(header.get('CPLX'), '(1.0, 2.0)');
    assert.equal(header.number('MISSING', 7), 7);
    assert.throws(() => header.number('OBJECT'), BadInputError);
    assert.throws(() => header.number('MISSING'), /MISSING is missing/);
  });

  it('reads quoted strings with escaped quotes and keeps leading blanks', () => {
    const c = parseCard("NAME    = 'O''Brien''s  ' / who".padEnd(80));
    assert.equal(c.value, "O'Brien's");
    const lead = parseCard("PAD     = '  x'".padEnd(80));
    assert.equal(lead.value, '  x');
    assert.equal(parseCard("EMPTY   = ''".padEnd(80)).value, '');
  });

  it('writes strings with doubled quotes, padded to column 30 before a comment', () => {
    const text = formatCard({ key: 'NAME', value: "O'Brien", comment: 'who' });
    assert.equal(text.length, 80);
    assert.equal(text.trimEnd(), "NAME    = 'O''Brien'           / who");
    assert.equal(parseCard(text).value, "O'Brien");
  });

  it('splits long strings over CONTINUE cards and joins them on read', () => {
    const value = `${'a'.repeat(100)}'quoted'${'b'.repeat(90)}`;
    const text = formatCard({ key: 'LONG', value, comment: 'a long one' });
    assert.equal(text.length % 80, 0);
    assert.ok(text.length >= 240);
    assert.match(text.slice(80, 91), /^CONTINUE {2}'/);
    const { header } = Header.parse(headerBytes(text.match(/.{80}/g)!));
    assert.equal(header.string('LONG'), value);
    assert.equal(header.comment('LONG'), 'a long one');
  });

  it('reads HIERARCH cards', () => {
    const { header } = Header.parse(
      headerBytes([
        "HIERARCH ESO DET NAME = 'ROCK 256^2' / detector",
        'HIERARCH ESO TEL FOCUS LENGTH= 77000 / Focal Length',
        'HIERARCH ESO DET PIX_SIZE = 4.E-5 / Pixel Size',
      ]),
    );
    assert.equal(header.get('ESO DET NAME'), 'ROCK 256^2');
    assert.equal(header.get('ESO TEL FOCUS LENGTH'), 77000);
    assert.equal(header.get('ESO DET PIX_SIZE'), 4e-5);
  });

  it('keeps COMMENT and HISTORY text in order', () => {
    const h = new Header();
    h.addHistory('first step');
    h.addComment('a remark');
    h.addHistory('second step');
    assert.deepEqual(h.history(), ['first step', 'second step']);
    assert.deepEqual(h.comments(), ['a remark']);
    const { header } = Header.parse(headerBytes(['HISTORY one', 'COMMENT   two', 'HISTORY three']));
    assert.deepEqual(header.history(), ['one', 'three']);
    assert.deepEqual(header.comments(), ['  two']);
  });

  it('reads a free-format SIMPLE card with a warning', () => {
    const bytes = headerBytes([
      'SIMPLE  =  T',
      'BITPIX  =                    8',
      'NAXIS   =                    0',
    ]);
    const warnings: string[] = [];
    const file = parseFits(bytes, { file: 'free.fits', warn: (m) => warnings.push(m) });
    assert.equal(file.hdus[0].header.get('SIMPLE'), true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /free\.fits, HDU 0, card 1: mandatory keyword SIMPLE is not in fixed format/);
    assert.deepEqual(file.warnings, warnings);
  });

  it('keeps unknown and non-standard cards byte for byte on a round trip', () => {
    const odd = [
      'ODDCARD = some text that is no value',
      'NOVALUE  this card has no value indicator',
      "MYKEY   = 'kept'              / comment kept exactly",
      'REALVAL =          0.69932E+05 / odd but valid real',
    ];
    const bytes = headerBytes([
      'SIMPLE  =                    T',
      'BITPIX  =                    8',
      'NAXIS   =                    0',
      ...odd.slice(1),
    ]);
    const first = parseFits(bytes).hdus[0];
    const out = encodeFits([{ data: new Uint8Array(0), shape: [], header: first.header }]);
    const text = Buffer.from(out).toString('latin1');
    for (const c of odd.slice(1)) assert.ok(text.includes(c.padEnd(80)), `card kept: ${c}`);
    assert.throws(() => Header.parse(headerBytes([odd[0]])), /cannot read the value of ODDCARD/);
  });

  it('names file, HDU and card in errors', () => {
    const bytes = headerBytes(['SIMPLE  =                    T', "OBJECT  = 'unterminated"]);
    assert.throws(
      () => parseFits(bytes, { file: 'bad.fits' }),
      (e: unknown) =>
        e instanceof BadInputError &&
        /bad\.fits, HDU 0, card 2: string value of OBJECT has no closing quote/.test(e.message),
    );
  });

  it('refuses header bytes that are not printable ASCII', () => {
    const bytes = headerBytes(['SIMPLE  =                    T', 'BITPIX  =                    8']);
    bytes[85] = 0x07;
    assert.throws(
      () => parseFits(bytes),
      /card 2: header card contains a non-ASCII or control byte \(0x07\)/,
    );
  });

  it('edits values, keeping comments, and serialises to whole blocks', () => {
    const h = new Header();
    h.set('EXPTIME', 10, 'seconds').set('EXPTIME', 20);
    assert.equal(h.number('EXPTIME'), 20);
    assert.equal(h.comment('EXPTIME'), 'seconds');
    h.set('FILTER', 'r', undefined, { after: 'EXPTIME' });
    assert.deepEqual(h.keys(), ['EXPTIME', 'FILTER']);
    assert.equal(h.delete('FILTER'), 1);
    assert.equal(h.toString().length % BLOCK_LENGTH, 0);
    assert.throws(() => h.set('BAD', Number.NaN), RangeError);
    assert.throws(() => formatCard({ key: `${'K'.repeat(75)} X`, value: 'string' }), RangeError);
  });
});

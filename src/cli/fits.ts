/**
 * `rapid fits info` and `rapid fits verify`: look inside FITS files. Tables and reports go to
 * standard output (JSON with --json); warnings to standard error.
 */
import type { Command } from 'commander';
import {
  type CardValue,
  type FitsFile,
  type Hdu,
  readFits,
  type VerifyReport,
  verifyFits,
} from '../fits/index.ts';
import { BadInputError } from '../util/errors.ts';

/** Cards worth seeing at a glance, when present. */
const KEY_CARDS = ['BSCALE', 'BZERO', 'EXPTIME', 'FILTER', 'DATE-OBS'];

type JsonValue = string | number | boolean | null;

function jsonValue(v: CardValue | undefined): JsonValue {
  if (v === undefined) return null;
  return typeof v === 'bigint' ? v.toString() : v;
}

function warnToStderr(message: string): void {
  console.error(`rapid: warning: ${message}`);
}

interface HduSummary {
  index: number;
  name: string;
  type: string;
  bitpix: number;
  shape: number[];
  rows?: number;
  columns?: number;
  compression?: string;
  cards: Record<string, JsonValue>;
}

function summarize(hdu: Hdu): HduSummary {
  const h = hdu.header;
  const image = hdu.imageHeader;
  const cards: Record<string, JsonValue> = {};
  if (hdu.name !== undefined) cards.EXTNAME = hdu.name;
  cards.BITPIX = hdu.bitpix;
  hdu.shape.forEach((n, i) => {
    cards[`NAXIS${i + 1}`] = n;
  });
  for (const k of KEY_CARDS) if (image.has(k)) cards[k] = jsonValue(image.get(k));
  const s: HduSummary = {
    index: hdu.index,
    name: hdu.name ?? (hdu.index === 0 ? 'PRIMARY' : ''),
    type: hdu.typeName,
    bitpix: hdu.bitpix,
    shape: hdu.shape,
    cards,
  };
  if (hdu.kind === 'bintable' || hdu.kind === 'table') {
    s.rows = hdu.shape[1];
    s.columns = Number(h.get('TFIELDS') ?? 0);
  }
  if (hdu.kind === 'compressed-image') s.compression = String(h.get('ZCMPTYPE') ?? '').trim();
  return s;
}

function dimensions(s: HduSummary): string {
  if (s.rows !== undefined) return `${s.rows} rows x ${s.columns} cols`;
  return s.shape.length === 0 ? '-' : s.shape.join(' x ');
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  return rows
    .map((r) =>
      r
        .map((c, j) => (j === r.length - 1 ? c : c.padEnd(widths[j])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function showValue(v: JsonValue): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

function printInfo(file: FitsFile, path: string): void {
  const summaries = file.hdus.map(summarize);
  const rows = [['HDU', 'NAME', 'TYPE', 'BITPIX', 'DIMENSIONS', 'CARDS']];
  for (const s of summaries) {
    const type = s.compression ? `${s.type} (${s.compression})` : s.type;
    const extra = Object.entries(s.cards)
      .filter(([k]) => KEY_CARDS.includes(k))
      .map(([k, v]) => `${k}=${showValue(v)}`)
      .join(' ');
    rows.push([String(s.index), s.name, type, String(s.bitpix), dimensions(s), extra]);
  }
  console.log(`${path}: ${summaries.length} HDU${summaries.length === 1 ? '' : 's'}`);
  console.log(table(rows));
}

function printHeader(hdu: Hdu): void {
  const s = summarize(hdu);
  console.log(
    `HDU ${s.index} ${s.name}: ${s.compression ? `${s.type} (${s.compression})` : s.type}, ${dimensions(s)}`,
  );
  // Cards as they are in the file (80 columns, trailing blanks trimmed).
  const text = hdu.header.toString();
  for (let i = 0; i < text.length; i += 80) {
    const line = text.slice(i, i + 80).trimEnd();
    console.log(line);
    if (line === 'END') break;
  }
}

function headerJson(hdu: Hdu): { key: string; value: JsonValue; comment?: string }[] {
  return hdu.header.cards.map((c) => ({
    key: c.key,
    value: c.value === undefined ? null : jsonValue(c.value),
    ...(c.comment !== undefined ? { comment: c.comment } : {}),
  }));
}

function printReport(r: VerifyReport): void {
  const rows = [['HDU', 'NAME', 'TYPE', 'CHECKSUM', 'DATASUM', 'STATUS']];
  for (const h of r.hdus) {
    rows.push([
      String(h.index),
      h.name ?? (h.index === 0 ? 'PRIMARY' : ''),
      h.kind,
      h.checksum,
      h.datasum,
      h.ok ? 'ok' : 'PROBLEM',
    ]);
  }
  const nProblems = r.problems.length + r.hdus.reduce((a, h) => a + h.problems.length, 0);
  console.log(`${r.file}: ${r.ok ? 'OK' : `${nProblems} problem${nProblems === 1 ? '' : 's'}`}`);
  if (r.hdus.length > 0) console.log(table(rows));
  for (const h of r.hdus) for (const p of h.problems) console.log(`problem: ${p}`);
  for (const p of r.problems) console.log(`problem: ${p}`);
  for (const w of r.warnings) console.log(`warning: ${w}`);
}

export function registerFitsCommands(program: Command): void {
  const fits = program.command('fits').description('inspect and check FITS files');

  fits
    .command('info')
    .description('list the HDUs of a FITS file (.fits, .fits.gz, .fz); with --hdu, its full header')
    .argument('<file>', 'FITS file')
    .option('--hdu <n>', 'HDU index or EXTNAME: print its full header')
    .option('--json', 'print JSON')
    .action(async (path: string, opts: { hdu?: string; json?: boolean }) => {
      // Headers only: a .fits.gz is inflated as a stream and its data dropped, not kept.
      const file = await readFits(path, { warn: warnToStderr, headersOnly: true });
      if (opts.hdu !== undefined) {
        const hdu = file.hdu(opts.hdu);
        if (opts.json) {
          const out = { file: path, ...summarize(hdu), header: headerJson(hdu) };
          console.log(JSON.stringify(out, null, 2));
        } else {
          printHeader(hdu);
        }
        return;
      }
      if (opts.json) {
        console.log(
          JSON.stringify({ file: path, hdus: file.hdus.map(summarize), warnings: file.warnings }, null, 2),
        );
      } else {
        printInfo(file, path);
      }
    });

  fits
    .command('verify')
    .description('check structure and CHECKSUM/DATASUM; exit 65 when a problem is found')
    .argument('<file>', 'FITS file')
    .option('--json', 'print the report as JSON')
    .option('--strict', 'count non-standard content (warnings) as problems')
    .action(async (path: string, opts: { json?: boolean; strict?: boolean }) => {
      const report = await verifyFits(path);
      if (opts.strict && report.warnings.length > 0) {
        report.problems.push(...report.warnings.map((w) => `non-standard: ${w}`));
        report.ok = false;
      }
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else printReport(report);
      if (!report.ok) {
        const first = report.problems[0] ?? report.hdus.find((h) => !h.ok)?.problems[0] ?? 'problem found';
        throw new BadInputError(`verification failed: ${first}`);
      }
    });
}

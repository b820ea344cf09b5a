/**
 * Verification of a FITS file: structure (mandatory keywords, sizes, fill), decodability of
 * tables and compressed images, and the checksum convention (CHECKSUM, DATASUM). Returns a
 * report rather than throwing, so every problem found is listed with where it is.
 */
import { readFile } from 'node:fs/promises';
import { BadInputError, MissingInputError, RapidError } from '../util/errors.ts';
import { addSums, onesComplementSum } from './checksum.ts';
import { gunzipFits, gunzipFitsSync } from './gzip.ts';
import { type Hdu, iterateHdus } from './hdu.ts';
import { CARD_LENGTH } from './header.ts';
import { readImage } from './image.ts';
import { MemorySource } from './source.ts';
import { readTable } from './table.ts';

/** ok: the sum matches; bad: it does not; absent: the keyword is not there. */
export type SumStatus = 'ok' | 'bad' | 'absent';

export interface HduReport {
  index: number;
  name?: string;
  kind: string;
  ok: boolean;
  checksum: SumStatus;
  datasum: SumStatus;
  problems: string[];
}

export interface VerifyReport {
  file: string;
  /** No problems (warnings allowed). */
  ok: boolean;
  hdus: HduReport[];
  /** Problems not tied to one parsed HDU (e.g. the file cannot be parsed past some point). */
  problems: string[];
  /** Non-standard content that was read anyway. */
  warnings: string[];
}

function message(err: unknown): string {
  if (err instanceof RapidError) return err.message;
  return `internal error while checking: ${(err as Error)?.message ?? String(err)}`;
}

/** Offset of the END card of the header that starts at `start`. */
function endCard(bytes: Uint8Array, start: number, dataStart: number): number {
  for (let p = start; p + CARD_LENGTH <= dataStart; p += CARD_LENGTH) {
    if (bytes[p] === 0x45 && bytes[p + 1] === 0x4e && bytes[p + 2] === 0x44) {
      let blank = true;
      for (let k = 3; k < CARD_LENGTH && blank; k++) blank = bytes[p + k] === 0x20;
      if (blank) return p;
    }
  }
  return dataStart - CARD_LENGTH;
}

function checkHdu(hdu: Hdu, bytes: Uint8Array): HduReport {
  const problems: string[] = [];
  const at = hdu.where;

  // Header fill after END must be blanks; data fill zeros (blanks for ASCII tables).
  const end = endCard(bytes, hdu.headerStart, hdu.dataStart);
  for (let p = end + CARD_LENGTH; p < hdu.dataStart; p++) {
    if (bytes[p] !== 0x20) {
      problems.push(`${at}: header fill after END is not all blanks (byte ${p})`);
      break;
    }
  }
  const fill = hdu.kind === 'table' ? 0x20 : 0;
  for (let p = hdu.dataStart + hdu.dataLength; p < hdu.end; p++) {
    if (bytes[p] !== fill) {
      problems.push(`${at}: data fill is not all ${fill === 0 ? 'zeros' : 'blanks'} (byte ${p})`);
      break;
    }
  }

  // Data that we can decode must decode.
  try {
    if (hdu.kind === 'bintable') readTable(hdu);
    else if (hdu.kind === 'compressed-image') readImage(hdu);
    else if (hdu.kind === 'unknown') {
      problems.push(
        `${at}: ${hdu.xtension !== undefined ? `extension type '${hdu.xtension}' is not standard` : 'random-groups data are not supported'}; its data cannot be checked`,
      );
    }
  } catch (err) {
    problems.push(message(err));
  }

  // Checksums.
  const header = hdu.header;
  let checksum: SumStatus = 'absent';
  let datasum: SumStatus = 'absent';
  const dsum = onesComplementSum(bytes.subarray(hdu.dataStart, hdu.end));
  if (header.has('DATASUM')) {
    const v = header.get('DATASUM');
    const expected = typeof v === 'string' ? Number(v.trim()) : typeof v === 'number' ? v : Number.NaN;
    datasum = expected === dsum ? 'ok' : 'bad';
    if (datasum === 'bad') {
      problems.push(
        `${header.where('DATASUM')}: DATASUM = ${JSON.stringify(v)} but the data sum to ${dsum}; the data are corrupted`,
      );
    }
  }
  if (header.has('CHECKSUM')) {
    const hsum = onesComplementSum(bytes.subarray(hdu.headerStart, hdu.dataStart));
    checksum = addSums(hsum, dsum) === 0xffffffff ? 'ok' : 'bad';
    if (checksum === 'bad') {
      problems.push(
        `${header.where('CHECKSUM')}: CHECKSUM does not match; the HDU is corrupted or was edited`,
      );
    }
  }
  return {
    index: hdu.index,
    name: hdu.name,
    kind: hdu.typeName,
    ok: problems.length === 0,
    checksum,
    datasum,
    problems,
  };
}

const isGzip = (bytes: Uint8Array) => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** A gzip-compressed file that cannot be inflated (within the limits of gzip.ts): a report of that. */
function gzipProblem(file: string, err: unknown): VerifyReport {
  if (!(err instanceof BadInputError)) throw err;
  return { file, ok: false, hdus: [], problems: [err.message], warnings: [] };
}

/** Verify a FITS file held in memory (a gzip-compressed one is inflated at once, within the cap). */
export function verifyBytes(bytes: Uint8Array, file = 'input'): VerifyReport {
  if (isGzip(bytes)) {
    try {
      bytes = gunzipFitsSync(bytes, { file });
    } catch (err) {
      return gzipProblem(file, err);
    }
  }
  return verifyPlain(bytes, file);
}

function verifyPlain(bytes: Uint8Array, file: string): VerifyReport {
  const warnings: string[] = [];
  const problems: string[] = [];
  const hdus: HduReport[] = [];
  try {
    const source = new MemorySource(bytes);
    for (const hdu of iterateHdus(source, { file, warn: (m) => warnings.push(m) }))
      hdus.push(checkHdu(hdu, bytes));
  } catch (err) {
    problems.push(message(err));
  }
  const ok = problems.length === 0 && hdus.every((h) => h.ok);
  return { file, ok, hdus, problems, warnings };
}

/** Verify a FITS file. MissingInputError when it does not exist; every other problem is in the report. */
export async function verifyFits(path: string): Promise<VerifyReport> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new MissingInputError(`${path}: no such file; check the path`);
    throw err;
  }
  if (isGzip(bytes)) {
    try {
      bytes = await gunzipFits(bytes, { file: path });
    } catch (err) {
      return gzipProblem(path, err);
    }
  }
  return verifyPlain(bytes, path);
}

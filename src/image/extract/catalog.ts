/**
 * Catalogs: SourceExtractor's ASCII_HEAD text (writer and reader) and the same catalog as FITS
 * binary-table columns. Text in and out; writing files is the caller's business.
 *
 * ASCII_HEAD layout (as SourceExtractor 2.25 writes it): one header line per parameter,
 * `#%4d %-22s %-58s [unit]` with the 1-based number of its first column (a vector of n
 * elements occupies n columns and one header line), then one line per object with the values
 * in their printf formats separated by one blank. Values of single-precision parameters are
 * rounded to float first, as SourceExtractor stores them.
 */
import { COLUMNS, type ColumnContext, type ColumnDef } from './columns.ts';
import { ConfigError, type ParamRequest } from './config.ts';
import type { Source } from './source.ts';

/** A column of an output catalog: its definition and its number of elements. */
export interface CatalogColumn {
  def: ColumnDef;
  /** Elements (1 for a scalar). */
  size: number;
  /** Elements actually measured (the rest are written as 0, as SourceExtractor does). */
  available: number;
}

/** Vector lengths available from the configuration. */
export interface VectorSizes {
  aper: number;
  fluxfrac: number;
}

/**
 * The catalog columns for a .param list. A vector asked for as NAME takes one element, as
 * NAME(n) n elements (SourceExtractor's rule); elements beyond what the configuration measures
 * (e.g. FLUX_APER(3) with one aperture) are written as 0, and `warnings` says so.
 */
export function selectColumns(
  params: readonly ParamRequest[],
  sizes: VectorSizes,
  warnings: string[] = [],
): CatalogColumn[] {
  return params.map((p) => {
    const def = COLUMNS.get(p.name);
    if (!def) throw new ConfigError(`parameter ${p.name} is not supported`);
    if (!def.vector) {
      if (p.size !== undefined && p.size !== 1)
        throw new ConfigError(`parameter ${p.name} is not a vector; ${p.name}(${p.size}) is not valid`);
      return { def, size: 1, available: 1 };
    }
    const size = p.size ?? 1;
    const available = Math.min(size, sizes[def.vector]);
    if (available < size) {
      warnings.push(
        `${p.name}(${size}) asks for more values than the configuration measures (${sizes[def.vector]}); the others are written as 0`,
      );
    }
    return { def, size, available };
  });
}

// ---------------------------------------------------------------------------------------------
// printf

interface Spec {
  plus: boolean;
  minus: boolean;
  zero: boolean;
  space: boolean;
  width: number;
  precision: number | undefined;
  conv: string;
}

const SPEC = /^%([-+ 0#]*)(\d*)(?:\.(\d+))?([dfeEgGu])$/;
const specCache = new Map<string, Spec>();

function parseSpec(fmt: string): Spec {
  let s = specCache.get(fmt);
  if (s) return s;
  const m = SPEC.exec(fmt);
  if (!m) throw new RangeError(`unsupported format '${fmt}'`);
  s = {
    plus: m[1].includes('+'),
    minus: m[1].includes('-'),
    zero: m[1].includes('0'),
    space: m[1].includes(' '),
    width: m[2] === '' ? 0 : Number(m[2]),
    precision: m[3] === undefined ? undefined : Number(m[3]),
    conv: m[4],
  };
  specCache.set(fmt, s);
  return s;
}

/** C's exponent form: at least two exponent digits. */
function cExponential(v: number, digits: number, upper: boolean): string {
  const t = v.toExponential(digits);
  const i = t.indexOf('e');
  const mant = t.slice(0, i);
  const sign = t[i + 1];
  const exp = t.slice(i + 2).padStart(2, '0');
  return `${mant}${upper ? 'E' : 'e'}${sign}${exp}`;
}

/** Trailing zeros (and a bare point) off a decimal mantissa, as %g does. */
function stripMantissa(m: string): string {
  if (m.indexOf('.') < 0) return m;
  let end = m.length;
  while (m.charCodeAt(end - 1) === 48) end--;
  if (m.charCodeAt(end - 1) === 46) end--;
  return m.slice(0, end);
}

function stripZeros(s: string): string {
  const e = s.search(/[eE]/);
  return e < 0 ? stripMantissa(s) : stripMantissa(s.slice(0, e)) + s.slice(e);
}

/** C's %g. */
function cGeneral(v: number, precision: number, upper: boolean): string {
  const p = precision === 0 ? 1 : precision;
  if (v === 0) return '0';
  if (v >= 1e-4) {
    // JavaScript's toPrecision switches to exponents exactly as C does from 1e-4 up.
    const t = v.toPrecision(p);
    const e = t.indexOf('e');
    if (e < 0) return stripMantissa(t);
    const sign = t[e + 1];
    return `${stripMantissa(t.slice(0, e))}${upper ? 'E' : 'e'}${sign}${t.slice(e + 2).padStart(2, '0')}`;
  }
  const e = cExponential(v, p - 1, upper);
  const x = Number(e.slice(e.search(/[eE]/) + 1));
  if (x < -4 || x >= p) return stripZeros(e);
  return stripZeros(v.toFixed(p - 1 - x));
}

/**
 * C's %f: toFixed, except that an exact tie rounds to even as C does (toFixed rounds it up),
 * e.g. 2.125 with two decimals is 2.12.
 */
function cFixed(v: number, digits: number): string {
  const t = v.toFixed(digits);
  if (digits > 15) return t;
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  if (scaled - floor !== 0.5 || floor % 2 !== 0 || scaled > 2 ** 52) return t;
  // An exact tie with an even lower neighbour: round down.
  const s = String(floor).padStart(digits + 1, '0');
  return digits === 0 ? s : `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
}

/** Format one number as C's printf would with `fmt` (%d, %u, %f, %e, %E, %g, %G with flags, width, precision). */
export function formatC(fmt: string, value: number): string {
  const s = parseSpec(fmt);
  let body: string;
  const neg = value < 0 || Object.is(value, -0);
  const a = Math.abs(value);
  if (!Number.isFinite(value)) {
    body = Number.isNaN(value) ? 'nan' : 'inf';
  } else {
    switch (s.conv) {
      case 'd':
      case 'u':
        body = String(Math.trunc(a));
        break;
      case 'f':
        body = cFixed(a, s.precision ?? 6);
        break;
      case 'e':
      case 'E':
        body = cExponential(a, s.precision ?? 6, s.conv === 'E');
        break;
      default:
        body = cGeneral(a, s.precision ?? 6, s.conv === 'G');
    }
  }
  const isNeg = neg && !Number.isNaN(value) && !(s.conv === 'd' && Math.trunc(a) === 0 && value > -1);
  const sign = isNeg ? '-' : s.plus ? '+' : s.space ? ' ' : '';
  let out = sign + body;
  if (out.length < s.width) {
    if (s.minus) out = out.padEnd(s.width);
    else if (s.zero && Number.isFinite(value)) out = sign + body.padStart(s.width - sign.length, '0');
    else out = out.padStart(s.width);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ASCII_HEAD

/** The header lines of an ASCII_HEAD catalog. */
export function asciiHeader(columns: readonly CatalogColumn[]): string {
  const lines: string[] = [];
  let n = 1;
  for (const c of columns) {
    const unit = c.def.unit ? ` [${c.def.unit}]` : '';
    lines.push(
      `#${String(n).padStart(4)} ${c.def.name.padEnd(22)} ${c.def.description.slice(0, 58).padEnd(58)}${unit}`,
    );
    n += c.size;
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function cellValue(c: CatalogColumn, s: Source, ctx: ColumnContext, i: number): number {
  if (i >= c.available) return 0;
  const v = c.def.get(s, ctx, i);
  return c.def.type === 'E' ? Math.fround(v) : v;
}

/** One object's line (no newline). */
export function asciiRow(columns: readonly CatalogColumn[], s: Source, ctx: ColumnContext): string {
  const parts: string[] = [];
  for (const c of columns)
    for (let i = 0; i < c.size; i++) parts.push(formatC(c.def.format, cellValue(c, s, ctx, i)));
  return parts.join(' ');
}

/** A whole catalog as text: ASCII_HEAD (with `header`) or ASCII (without). */
export function formatAsciiCatalog(
  columns: readonly CatalogColumn[],
  sources: readonly Source[],
  ctx: ColumnContext,
  header = true,
): string {
  const out: string[] = [];
  if (header) out.push(asciiHeader(columns));
  for (const s of sources) out.push(`${asciiRow(columns, s, ctx)}\n`);
  return out.join('');
}

/** A column of a catalog read back. */
export interface ReadColumn {
  name: string;
  description: string;
  unit: string;
  /** 0-based index of its first value in a row. */
  index: number;
  size: number;
}

export interface AsciiCatalog {
  columns: ReadColumn[];
  rows: number[][];
  /** The values of a column (its first element, or element `i`), one per row. */
  get(name: string, i?: number): number[];
}

/** Read an ASCII_HEAD catalog (SourceExtractor's or ours). */
export function parseAsciiCatalog(text: string): AsciiCatalog {
  const lines = text.split(/\r?\n/);
  const heads: { number: number; name: string; description: string; unit: string }[] = [];
  const rows: number[][] = [];
  for (const line of lines) {
    if (line.startsWith('#')) {
      const m = /^#\s*(\d+)\s+(\S+)\s*(.*)$/.exec(line);
      if (!m) continue;
      let rest = m[3].trimEnd();
      let unit = '';
      const u = /\s*\[([^\]]*)\]$/.exec(rest);
      if (u) {
        unit = u[1];
        rest = rest.slice(0, u.index).trimEnd();
      }
      heads.push({ number: Number(m[1]), name: m[2], description: rest, unit });
    } else if (line.trim() !== '') {
      rows.push(line.trim().split(/\s+/).map(Number));
    }
  }
  const ncols = rows.length ? rows[0].length : heads.length ? heads[heads.length - 1].number : 0;
  const columns: ReadColumn[] = heads.map((h, i) => ({
    name: h.name,
    description: h.description,
    unit: h.unit,
    index: h.number - 1,
    size: (i + 1 < heads.length ? heads[i + 1].number : ncols + 1) - h.number,
  }));
  const byName = new Map(columns.map((c) => [c.name, c]));
  return {
    columns,
    rows,
    get(name: string, i = 0): number[] {
      const c = byName.get(name);
      if (!c) throw new RangeError(`the catalog has no column ${name}`);
      if (i >= c.size) throw new RangeError(`${name} has ${c.size} elements`);
      return rows.map((r) => r[c.index + i]);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// FITS binary table

/** A FITS binary-table column (as src/fits writeFits takes it). */
export interface TableColumn {
  name: string;
  data: Float64Array | Float32Array | Int32Array | Int16Array;
  format: string;
  unit?: string;
  disp?: string;
}

/** printf format → TDISP (F11.4, E18.10, G12.7, I10). */
function tdisp(fmt: string): string | undefined {
  const m = /^%[-+ 0#]*(\d+)(?:\.(\d+))?([dfeEgGu])$/.exec(fmt);
  if (!m) return undefined;
  const w = m[1];
  const p = m[2];
  switch (m[3]) {
    case 'd':
    case 'u':
      return `I${w}`;
    case 'f':
      return `F${w}.${p ?? 6}`;
    case 'e':
    case 'E':
      return `E${w}.${p ?? 6}`;
    default:
      return `G${w}.${p ?? 6}`;
  }
}

/** The catalog as binary-table columns: vectors as repeated TFORMs (e.g. 6E), units as TUNIT. */
export function tableColumns(
  columns: readonly CatalogColumn[],
  sources: readonly Source[],
  ctx: ColumnContext,
): TableColumn[] {
  const n = sources.length;
  return columns.map((c) => {
    const len = n * c.size;
    const data =
      c.def.type === 'D'
        ? new Float64Array(len)
        : c.def.type === 'E'
          ? new Float32Array(len)
          : c.def.type === 'J'
            ? new Int32Array(len)
            : new Int16Array(len);
    sources.forEach((s, r) => {
      for (let i = 0; i < c.size; i++) data[r * c.size + i] = cellValue(c, s, ctx, i);
    });
    return {
      name: c.def.name,
      data,
      format: `${c.size > 1 ? c.size : ''}${c.def.type}`,
      unit: c.def.unit || undefined,
      disp: tdisp(c.def.format),
    };
  });
}

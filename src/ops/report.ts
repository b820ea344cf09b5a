/**
 * Report: figures a person would rather look at than read, as SVG and PNG (vega-lite, rendered
 * without a browser; resvg for the PNG), and an index.html tying them together with a summary
 * table:
 *
 * - job-times: histogram of job elapsed times, by pipeline;
 * - time-vs-ref-inputs: 2-D histogram of elapsed time against the number of reference-image
 *   inputs (as RAPID's reports show it);
 * - throughput: jobs ended per time bin, and the cumulative count;
 * - failures: jobs by exit code (0 excluded);
 * - with truth (simulated data, OpenUniverse's layout): completeness of the registered
 *   difference-image sources against the truth difference magnitude, and false positives per
 *   image.
 *
 * Truth matching: for each science job, the truth file of its image and those of its reference's
 * inputs give each variable object's flux at the science epoch and in the reference (the mean
 * over the inputs); the difference, in the science image's counts, is what a subtraction should
 * find. A truth object is found when a registered source of the job lies within `matchRadius`
 * pixels; a source with no changed truth object within that radius is a false positive.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreRouter } from '../store/router.ts';
import type { Db } from './db.ts';
import { type StatusReport, status as statusOf } from './status.ts';

export interface ReportOptions {
  out: string;
  runId?: number;
  /** Root of a simulation (its truth/ folder); default: next to each image, when in OpenUniverse's layout. */
  truth?: string;
  stores?: StoreRouter;
  /** Match radius in pixels. */
  matchRadius?: number;
  /** Differences fainter than this are not counted in completeness (default 28). */
  faintLimit?: number;
}

export interface Figure {
  name: string;
  title: string;
  caption: string;
  svg: string;
  png: string;
}

export interface ReportSummary {
  out: string;
  index: string;
  figures: Figure[];
  status: StatusReport;
  jobs: {
    count: number;
    medianSeconds: number | null;
    p90Seconds: number | null;
    jobsPerHour: number | null;
  };
  /** ZOGY's catalogs against truth (the primary method). */
  truth: TruthSummary | null;
  /** SFFT's catalogs of the same jobs against the same truth, when SFFT ran. */
  truthSfft: TruthSummary | null;
}

interface TruthSummary {
  images: number;
  injected: number;
  recovered: number;
  falsePositives: number;
  completenessByMag: { mag: number; injected: number; recovered: number; completeness: number }[];
  mag50: number | null;
}

interface ReportJobRow {
  id: number;
  pipeline: string;
  status: string;
  exit_code: number | null;
  elapsed: number | null;
  started_at: Date | null;
  ended_at: Date | null;
  n_ref_inputs: number | null;
  image_uri: string | null;
  zero_point: number | null;
  width: number | null;
  height: number | null;
  ref_inputs: string[] | null;
}

interface TruthRow {
  id: string;
  x: number;
  y: number;
  flux: number;
  mag: number;
  type: string;
}

const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
];

/** Render a vega-lite spec to SVG and PNG text/bytes. */
export async function renderChart(spec: Record<string, unknown>): Promise<{ svg: string; png: Uint8Array }> {
  const vl = await import('vega-lite');
  const vega = await import('vega');
  const { Resvg } = await import('@resvg/resvg-js');
  const full = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 520,
    height: 300,
    background: 'white',
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    ...spec,
  };
  const compiled = vl.compile(full as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const fontFiles = FONT_CANDIDATES.filter((f) => existsSync(f));
  const png = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { fontFiles, loadSystemFonts: fontFiles.length === 0, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  return { svg, png };
}

async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Where a truth file is for an image in OpenUniverse's layout (or under `truthRoot`). */
export function truthPathFor(imageUri: string, truthRoot?: string): string | undefined {
  const m =
    /^(.*)\/images\/simple_model\/([^/]+)\/(\d+)\/Roman_TDS_simple_model_([^_/]+)_(\d+)_(\d+)\.fits(\.gz)?$/.exec(
      imageUri,
    );
  if (!m) return undefined;
  const root = truthRoot ?? m[1];
  return `${root}/truth/${m[2]}/${m[3]}/Roman_TDS_index_${m[4]}_${m[5]}_${m[6]}.txt`;
}

export function parseTruth(text: string): TruthRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const names = lines[0].trim().split(/\s+/);
  const at = (n: string) => names.indexOf(n);
  const [iId, iX, iY, iFlux, iMag, iType] = ['object_id', 'x', 'y', 'flux', 'mag', 'obj_type'].map(at);
  if ([iId, iX, iY, iFlux].some((i) => i < 0)) return [];
  return lines.slice(1).map((l) => {
    const f = l.trim().split(/\s+/);
    return {
      id: f[iId],
      x: Number(f[iX]),
      y: Number(f[iY]),
      flux: Number(f[iFlux]),
      mag: Number(f[iMag]),
      type: f[iType] ?? '',
    };
  });
}

async function readTruth(uri: string, stores?: StoreRouter): Promise<TruthRow[] | undefined> {
  try {
    const text =
      uri.startsWith('s3://') && stores ? await stores.for(uri).getText(uri) : await readFile(uri, 'utf8');
    return parseTruth(text);
  } catch {
    return undefined;
  }
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

export async function writeReport(db: Db, o: ReportOptions): Promise<ReportSummary> {
  await mkdir(o.out, { recursive: true });
  const status = await statusOf(db, o.runId);
  const runId = status.run?.id;
  const jobs =
    runId === undefined
      ? []
      : await db.query<ReportJobRow>(
          `SELECT j.id, j.pipeline, j.status, j.exit_code, j.elapsed, j.started_at, j.ended_at, j.n_ref_inputs,
             i.uri AS image_uri, i.zero_point, i.width, i.height,
             (SELECT array_agg(ii.uri ORDER BY ri.rank) FROM refimage_inputs ri JOIN images ii ON ii.id = ri.image_id
              WHERE ri.refimage_id = j.refimage_id) AS ref_inputs
           FROM run_jobs rj JOIN jobs j ON j.id = rj.job_id LEFT JOIN images i ON i.id = j.image_id
           WHERE rj.run_id = $1 ORDER BY j.id`,
          [runId],
        );
  const ran = jobs.filter((j) => j.ended_at !== null && j.started_at !== null);
  const seconds = (j: ReportJobRow) =>
    j.elapsed ?? (new Date(j.ended_at!).getTime() - new Date(j.started_at!).getTime()) / 1000;
  const figures: Figure[] = [];
  const add = async (name: string, title: string, caption: string, spec: Record<string, unknown>) => {
    const { svg, png } = await renderChart({ title, ...spec });
    await atomicWrite(join(o.out, `${name}.svg`), svg);
    await atomicWrite(join(o.out, `${name}.png`), png);
    figures.push({ name, title, caption, svg: `${name}.svg`, png: `${name}.png` });
  };

  // 1. Job times.
  const times = ran.map((j) => ({ pipeline: j.pipeline, seconds: seconds(j), nref: j.n_ref_inputs ?? 0 }));
  await add('job-times', 'Job elapsed times', 'Wall time of each job, from its result record, by pipeline.', {
    data: { values: times },
    mark: 'bar',
    encoding: {
      x: { field: 'seconds', type: 'quantitative', bin: { maxbins: 30 }, title: 'elapsed time (s)' },
      y: { aggregate: 'count', type: 'quantitative', title: 'jobs' },
      color: { field: 'pipeline', type: 'nominal' },
    },
  });

  // 2. Time against the number of reference inputs.
  await add(
    'time-vs-ref-inputs',
    'Elapsed time against reference inputs',
    'Jobs binned by the number of frames in their reference (built in stage 1) and by elapsed time: science jobs should not slow down with more reference inputs.',
    {
      data: { values: times.filter((t) => t.nref > 0) },
      mark: 'rect',
      encoding: {
        x: { field: 'nref', type: 'quantitative', bin: { maxbins: 25 }, title: 'reference-image inputs' },
        y: { field: 'seconds', type: 'quantitative', bin: { maxbins: 20 }, title: 'elapsed time (s)' },
        color: { aggregate: 'count', type: 'quantitative', title: 'jobs', scale: { scheme: 'viridis' } },
      },
    },
  );

  // 3. Throughput.
  const ends = ran.map((j) => new Date(j.ended_at!).getTime()).sort((a, b) => a - b);
  const span = ends.length > 1 ? (ends[ends.length - 1] - ends[0]) / 1000 : 0;
  const binSeconds = span > 7200 ? 600 : span > 600 ? 60 : span > 60 ? 10 : 1;
  const t0 = ends[0] ?? 0;
  const bins = new Map<number, number>();
  for (const t of ends) {
    const b = Math.floor((t - t0) / 1000 / binSeconds) * binSeconds;
    bins.set(b, (bins.get(b) ?? 0) + 1);
  }
  let cumulative = 0;
  const throughput = [...bins.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([t, n]) => {
      cumulative += n;
      return { t, n, cumulative };
    });
  await add(
    'throughput',
    'Throughput',
    `Jobs ended per ${binSeconds} s (bars) and in total (line), from the first job's end.`,
    {
      data: { values: throughput },
      encoding: { x: { field: 't', type: 'quantitative', title: 'time since the first job ended (s)' } },
      layer: [
        {
          mark: { type: 'bar', opacity: 0.6 },
          encoding: { y: { field: 'n', type: 'quantitative', title: `jobs per ${binSeconds} s` } },
        },
        {
          mark: { type: 'line', color: '#d62728' },
          encoding: { y: { field: 'cumulative', type: 'quantitative', title: 'jobs ended (cumulative)' } },
        },
      ],
      resolve: { scale: { y: 'independent' } },
    },
  );

  // 4. Failures by exit code.
  const meaning: Record<number, string> = {
    4: 'secondary method failed',
    33: 'no reference possible',
    65: 'bad input',
    66: 'input missing',
    70: 'internal error',
    75: 'temporary: retry',
  };
  const codes = new Map<number, number>();
  for (const j of jobs)
    if (j.exit_code !== null && j.exit_code !== 0) codes.set(j.exit_code, (codes.get(j.exit_code) ?? 0) + 1);
  await add('failures', 'Jobs by exit code', 'Jobs of the run that did not end with 0, by exit code.', {
    data: {
      values: [...codes.entries()].map(([code, n]) => ({ code: `${code} ${meaning[code] ?? ''}`.trim(), n })),
    },
    mark: 'bar',
    encoding: {
      y: { field: 'code', type: 'nominal', title: 'exit code', sort: 'ascending' },
      x: { field: 'n', type: 'quantitative', title: 'jobs' },
    },
  });

  // 5. Science quality against truth.
  const truth = await truthQuality(db, jobs, o, 'zogy');
  const truthSfft = await truthQuality(db, jobs, o, 'sfft');
  if (truth) {
    await add(
      'completeness',
      'Completeness against magnitude',
      `Share of truth objects whose flux changed (transients, variables) found among the registered difference-image sources within ${o.matchRadius ?? 2} px, by the magnitude of the change${truthSfft && truthSfft.sources > 0 ? ', for each subtraction method' : ''}.`,
      {
        data: {
          values: [
            ...truth.completenessByMag.map((r) => ({ ...r, method: 'ZOGY' })),
            ...(truthSfft && truthSfft.sources > 0
              ? truthSfft.completenessByMag.map((r) => ({ ...r, method: 'SFFT' }))
              : []),
          ],
        },
        layer: [
          {
            mark: { type: 'line', point: true },
            encoding: {
              color: { field: 'method', type: 'nominal', title: 'method' },
              x: {
                field: 'mag',
                type: 'quantitative',
                title: 'difference magnitude (AB)',
                scale: { zero: false },
              },
              y: {
                field: 'completeness',
                type: 'quantitative',
                title: 'completeness',
                scale: { domain: [0, 1] },
              },
              tooltip: [{ field: 'injected' }, { field: 'recovered' }],
            },
          },
        ],
      },
    );
    await add(
      'false-positives',
      'False positives per image',
      'Registered difference-image sources with no changed truth object nearby, per science image.',
      {
        data: { values: truth.perImage },
        mark: 'bar',
        encoding: {
          x: {
            field: 'falsePositives',
            type: 'quantitative',
            bin: { maxbins: 20 },
            title: 'false positives per image',
          },
          y: { aggregate: 'count', type: 'quantitative', title: 'images' },
        },
      },
    );
  }

  const sorted = times.map((t) => t.seconds).sort((a, b) => a - b);
  const summary: ReportSummary = {
    out: o.out,
    index: join(o.out, 'index.html'),
    figures,
    status,
    jobs: {
      count: ran.length,
      medianSeconds: quantile(sorted, 0.5),
      p90Seconds: quantile(sorted, 0.9),
      jobsPerHour: span > 0 ? (ends.length / span) * 3600 : null,
    },
    truth: truth ? truthSummary(truth) : null,
    truthSfft: truthSfft && truthSfft.sources > 0 ? truthSummary(truthSfft) : null,
  };
  await atomicWrite(summary.index, indexHtml(summary));
  await atomicWrite(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

function truthSummary(t: TruthQuality): TruthSummary {
  return {
    images: t.images,
    injected: t.injected,
    recovered: t.recovered,
    falsePositives: t.falsePositives,
    completenessByMag: t.completenessByMag,
    mag50: t.mag50,
  };
}

interface TruthQuality {
  /** The method's sources in the matched images (0: the method did not run). */
  sources: number;
  images: number;
  injected: number;
  recovered: number;
  falsePositives: number;
  completenessByMag: { mag: number; injected: number; recovered: number; completeness: number }[];
  perImage: { job: number; falsePositives: number }[];
  mag50: number | null;
}

async function truthQuality(
  db: Db,
  jobs: ReportJobRow[],
  o: ReportOptions,
  method: 'zogy' | 'sfft',
): Promise<TruthQuality | undefined> {
  const radius = o.matchRadius ?? 2;
  const faint = o.faintLimit ?? 28;
  const science = jobs.filter(
    (j) => j.pipeline === 'science' && (j.exit_code === 0 || j.exit_code === 4) && j.image_uri,
  );
  const cache = new Map<string, Promise<TruthRow[] | undefined>>();
  const truthOf = (imageUri: string) => {
    const p = truthPathFor(imageUri, o.truth);
    if (!p) return Promise.resolve(undefined);
    let t = cache.get(p);
    if (!t) {
      t = readTruth(p, o.stores);
      cache.set(p, t);
    }
    return t;
  };
  const found: { mag: number; ok: boolean }[] = [];
  const perImage: { job: number; falsePositives: number }[] = [];
  let images = 0;
  let total = 0;
  for (const j of science) {
    const sci = await truthOf(j.image_uri!);
    if (!sci) continue;
    const refs = await Promise.all((j.ref_inputs ?? []).map((u) => truthOf(u)));
    if (refs.length === 0 || refs.some((r) => r === undefined)) continue;
    images++;
    const zp = j.zero_point ?? 0;
    // Reference flux of each variable object, in the science image's counts: the mean over the inputs.
    const refFlux = new Map<string, number>();
    for (const r of refs)
      for (const row of r!)
        if (row.type === 'transient' || row.type === 'variable')
          refFlux.set(row.id, (refFlux.get(row.id) ?? 0) + 10 ** (-0.4 * (row.mag - zp)) / refs.length);
    const changed = sci
      .filter((r) => r.type === 'transient' || r.type === 'variable')
      .map((r) => ({ ...r, dflux: r.flux - (refFlux.get(r.id) ?? 0) }))
      .filter((r) => Math.abs(r.dflux) > 0);
    const sources = await db.query<{ x: number; y: number }>(
      'SELECT x_image - 1 AS x, y_image - 1 AS y FROM diff_sources WHERE job_id = $1 AND method = $2',
      [j.id, method],
    );
    total += sources.length;
    const w = j.width ?? Number.POSITIVE_INFINITY;
    const h = j.height ?? Number.POSITIVE_INFINITY;
    const near = (a: { x: number; y: number }, b: { x: number; y: number }) =>
      (a.x - b.x) ** 2 + (a.y - b.y) ** 2 <= radius * radius;
    for (const c of changed) {
      if (c.x < 5 || c.y < 5 || c.x > w - 6 || c.y > h - 6) continue;
      const mag = zp - 2.5 * Math.log10(Math.abs(c.dflux));
      if (!(mag < faint)) continue;
      found.push({ mag, ok: sources.some((s) => near(s, c)) });
    }
    perImage.push({
      job: j.id,
      falsePositives: sources.filter((s) => !changed.some((c) => near(s, c))).length,
    });
  }
  if (images === 0) return undefined;
  const byBin = new Map<number, { injected: number; recovered: number }>();
  for (const f of found) {
    const b = Math.floor(f.mag * 2) / 2 + 0.25;
    const e = byBin.get(b) ?? { injected: 0, recovered: 0 };
    e.injected++;
    if (f.ok) e.recovered++;
    byBin.set(b, e);
  }
  const completenessByMag = [...byBin.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([mag, e]) => ({ mag, ...e, completeness: e.recovered / e.injected }));
  let mag50: number | null = null;
  for (const c of completenessByMag) if (c.completeness >= 0.5) mag50 = c.mag;
  return {
    sources: total,
    images,
    injected: found.length,
    recovered: found.filter((f) => f.ok).length,
    falsePositives: perImage.reduce((n, p) => n + p.falsePositives, 0),
    completenessByMag,
    perImage,
    mag50,
  };
}

function indexHtml(s: ReportSummary): string {
  const st = s.status;
  const row = (k: string, v: unknown) =>
    `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v ?? '–'))}</td></tr>`;
  const fmt = (v: number | null, d = 1) => (v === null ? '–' : v.toFixed(d));
  const rows = [
    row(
      'run',
      st.run
        ? `${st.run.id}: ${st.run.from} to ${st.run.to}${st.run.filter ? ` (${st.run.filter})` : ''}`
        : 'none',
    ),
    row('images registered', st.images),
    row('references', st.references),
    row('jobs in the run', st.jobs.total),
    row(
      'jobs by status',
      Object.entries(st.jobs.byStatus)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none',
    ),
    row(
      'jobs by exit code',
      Object.entries(st.jobs.byExitCode)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ') || 'none',
    ),
    row('median job time (s)', fmt(s.jobs.medianSeconds, 2)),
    row('90th percentile job time (s)', fmt(s.jobs.p90Seconds, 2)),
    row('throughput (jobs per hour)', fmt(s.jobs.jobsPerHour, 0)),
    row('products', st.products),
    row('difference-image sources', st.sources),
  ];
  if (s.truth) {
    rows.push(row('images matched with truth', s.truth.images));
    rows.push(
      row(
        'changed truth objects found',
        `${s.truth.recovered} of ${s.truth.injected}${s.truth.injected ? ` (${((100 * s.truth.recovered) / s.truth.injected).toFixed(1)}%)` : ''}`,
      ),
    );
    rows.push(
      row(
        'faintest bin with ≥ 50% completeness (mag)',
        s.truth.mag50 === null ? '–' : s.truth.mag50.toFixed(2),
      ),
    );
    rows.push(row('false positives (all images)', s.truth.falsePositives));
  }
  const t = s.truth;
  const u = s.truthSfft;
  if (t && u) {
    // The two methods side by side, on the same images and the same truth.
    const pct = (q: TruthSummary) =>
      q.injected ? ` (${((100 * q.recovered) / q.injected).toFixed(1)}%)` : '';
    rows.push(
      row(
        'changed truth objects found: ZOGY | SFFT',
        `${t.recovered} of ${t.injected}${pct(t)} | ${u.recovered} of ${u.injected}${pct(u)}`,
      ),
    );
    rows.push(
      row(
        'faintest bin with ≥ 50% completeness (mag): ZOGY | SFFT',
        `${t.mag50 === null ? '–' : t.mag50.toFixed(2)} | ${u.mag50 === null ? '–' : u.mag50.toFixed(2)}`,
      ),
    );
    rows.push(row('false positives (all images): ZOGY | SFFT', `${t.falsePositives} | ${u.falsePositives}`));
  }
  const figs = s.figures
    .map(
      (f) => `<figure id="${f.name}"><img src="${f.png}" alt="${escapeHtml(f.title)}" width="640">
<figcaption><b>${escapeHtml(f.title)}.</b> ${escapeHtml(f.caption)} (<a href="${f.svg}">SVG</a>)</figcaption></figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rapid-ts report${st.run ? `: run ${st.run.id}` : ''}</title>
<style>body{font-family:'DejaVu Sans',sans-serif;max-width:900px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin-bottom:2em}th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}
th{font-weight:normal;color:#555}figure{margin:2em 0}figcaption{color:#444;font-size:90%}</style></head>
<body><h1>rapid-ts report${st.run ? `: run ${st.run.id}` : ''}</h1>
<p>Generated ${escapeHtml(new Date().toISOString())}.</p>
<table>${rows.join('\n')}</table>
${figs}
</body></html>
`;
}

-- The operations database: images, filters and sky tiles; reference images; runs and jobs;
-- products; difference-image sources. Jobs never write here: launch writes plans and job rows,
-- aggregate registers what the jobs produced.

CREATE TABLE filters (
  name text PRIMARY KEY,              -- WFI spelling, e.g. F158
  band text NOT NULL UNIQUE,          -- OpenUniverse/RAPID spelling, e.g. H158
  wavelength_um double precision,
  zeropoint_ab double precision       -- AB magnitude giving 1 e-/s
);

CREATE TABLE tiles (
  nside integer NOT NULL,
  tile bigint NOT NULL,               -- HEALPix nested index
  ra double precision NOT NULL,       -- centre, degrees
  dec double precision NOT NULL,
  PRIMARY KEY (nside, tile)
);

CREATE TABLE images (
  id bigserial PRIMARY KEY,
  uri text NOT NULL UNIQUE,
  checksum text NOT NULL,
  bytes bigint NOT NULL,
  filter text NOT NULL REFERENCES filters (name),
  date_obs timestamptz NOT NULL,
  mjd double precision NOT NULL,
  exptime double precision NOT NULL,
  zero_point double precision NOT NULL,
  gain double precision NOT NULL,
  pointing integer,
  sca integer,
  width integer NOT NULL,
  height integer NOT NULL,
  hdu integer NOT NULL,
  nside integer NOT NULL,
  tile bigint NOT NULL,               -- the tile containing the image centre
  ra double precision NOT NULL,       -- centre
  dec double precision NOT NULL,
  footprint double precision[] NOT NULL,  -- outer corners: ra1, dec1, ..., ra4, dec4
  tiles bigint[] NOT NULL,            -- every tile the footprint touches
  ingested_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (nside, tile) REFERENCES tiles (nside, tile)
);
CREATE INDEX images_date_obs ON images (date_obs);
CREATE INDEX images_filter_tile_mjd ON images (filter, tile, mjd);
CREATE INDEX images_tiles ON images USING gin (tiles);

CREATE TABLE runs (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  date_from timestamptz NOT NULL,
  date_to timestamptz NOT NULL,
  filter text,
  ref_from timestamptz,
  ref_to timestamptz,
  pipeline text NOT NULL,
  executor text NOT NULL,
  force boolean NOT NULL DEFAULT false,
  proc_date text NOT NULL,
  store text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'launched'  -- launched, ended, interrupted
);

CREATE TABLE refimages (
  id bigserial PRIMARY KEY,
  nside integer NOT NULL,
  tile bigint NOT NULL,
  filter text NOT NULL REFERENCES filters (name),
  version integer NOT NULL,
  status text NOT NULL DEFAULT 'planned',   -- planned, ready, failed
  prefix text NOT NULL,
  image_uri text NOT NULL,
  image_checksum text,
  cov_uri text NOT NULL,
  cov_checksum text,
  unc_uri text NOT NULL,
  unc_checksum text,
  psf_uri text,
  psf_checksum text,
  n_inputs integer NOT NULL,
  min_input_mjd double precision NOT NULL,
  max_input_mjd double precision NOT NULL,
  window_from double precision,              -- explicit reference window (MJD), when given
  window_to double precision,
  qa jsonb NOT NULL DEFAULT '{}',
  run_id bigint REFERENCES runs (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (nside, tile, filter, version)
);

CREATE TABLE refimage_inputs (
  refimage_id bigint NOT NULL REFERENCES refimages (id) ON DELETE CASCADE,
  image_id bigint NOT NULL REFERENCES images (id),
  rank integer NOT NULL,                     -- 1 = nearest to the tile centre
  PRIMARY KEY (refimage_id, image_id)
);

CREATE TABLE jobs (
  id bigserial PRIMARY KEY,                  -- the job id (jid), stable per pipeline and key
  pipeline text NOT NULL,                    -- reference, science, noop
  key text NOT NULL,                         -- image:<id> or refimage:<id>
  stage integer NOT NULL,                    -- 1 reference builds, 2 science jobs
  image_id bigint REFERENCES images (id),
  refimage_id bigint REFERENCES refimages (id),
  depends_on bigint REFERENCES jobs (id),    -- the reference build a science job waits for
  run_id bigint REFERENCES runs (id),        -- the latest run that launched it
  n_ref_inputs integer,
  status text NOT NULL,                      -- queued, running, succeeded, failed, interrupted
  exit_code integer,
  message text,
  executor text,
  executor_job_id text,
  output_prefix text NOT NULL,
  manifest_uri text NOT NULL,
  result_uri text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  steps jsonb,                               -- [{name, start, seconds, ok}]
  qa jsonb,
  counts jsonb,
  started_at timestamptz,
  ended_at timestamptz,
  elapsed double precision,                  -- seconds, from the result record
  peak_rss bigint,
  aggregated_at timestamptz,
  result_checksum text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pipeline, key)
);
CREATE INDEX jobs_run ON jobs (run_id);
CREATE INDEX jobs_pending_aggregation ON jobs (id) WHERE aggregated_at IS NULL;

CREATE TABLE run_jobs (
  run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  PRIMARY KEY (run_id, job_id)
);
CREATE INDEX run_jobs_job ON run_jobs (job_id);

CREATE TABLE products (
  id bigserial PRIMARY KEY,
  job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  kind text NOT NULL,
  uri text NOT NULL,
  checksum text NOT NULL,
  bytes bigint NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (job_id, uri)
);
CREATE INDEX products_kind ON products (kind);

CREATE TABLE diff_sources (
  id bigserial PRIMARY KEY,
  job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  image_id bigint REFERENCES images (id),
  refimage_id bigint REFERENCES refimages (id),
  number integer NOT NULL,                   -- NUMBER in the catalog
  x_image double precision,                  -- 1-based, as SourceExtractor
  y_image double precision,
  ra double precision NOT NULL,
  dec double precision NOT NULL,
  hpix bigint NOT NULL,                      -- HEALPix nested index at nside 2^14, for sky queries
  mjd double precision,
  filter text,
  flux_psf double precision,
  fluxerr_psf double precision,
  mag_psf double precision,
  magerr_psf double precision,
  snr_psf double precision,
  scorr_peak double precision,
  isdiffpos boolean NOT NULL,
  fwhm_image double precision,
  elongation double precision,
  flags integer,
  UNIQUE (job_id, number)
);
CREATE INDEX diff_sources_hpix ON diff_sources (hpix);
CREATE INDEX diff_sources_image ON diff_sources (image_id);

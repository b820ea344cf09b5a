-- Post-processing: vetting flags on difference-image sources, objects (sources associated
-- across epochs), forced photometry on difference images, and header stamping.

ALTER TABLE diff_sources ADD COLUMN vetflags integer;          -- VETFLAGS of the catalog (0: passes the cuts)
ALTER TABLE diff_sources ADD COLUMN object_id bigint;          -- the object it was associated with
CREATE INDEX diff_sources_object ON diff_sources (object_id);
CREATE INDEX diff_sources_unassociated ON diff_sources (hpix) WHERE object_id IS NULL;

CREATE TABLE objects (
  id bigserial PRIMARY KEY,
  name text UNIQUE,                   -- prefix, year and base-26 counter, e.g. RAPID2028abc
  nside integer NOT NULL,             -- the sky tile (HEALPix nested) holding the object: the
  tile bigint NOT NULL,               -- unit of partitioned association
  ra double precision NOT NULL,       -- weighted mean of its detections, degrees
  dec double precision NOT NULL,
  weight double precision NOT NULL,   -- sum of the detections' weights (S/N²)
  n_detections integer NOT NULL,
  first_mjd double precision NOT NULL,
  last_mjd double precision NOT NULL,
  stats jsonb NOT NULL DEFAULT '{}',  -- per filter: n, flux mean/sigma/min/max, mag min/max
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX objects_tile ON objects (nside, tile);

-- Forced PSF photometry at an object's position on a difference image (one row per object
-- and science job), measured by a post-processing job and registered from its result record.
CREATE TABLE forced_sources (
  id bigserial UNIQUE,                -- diaForcedSourceId in alert packets
  object_id bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
  diff_job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,   -- the science job
  job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,        -- the job that measured it
  image_id bigint REFERENCES images (id),
  mjd double precision NOT NULL,
  filter text NOT NULL,
  x double precision NOT NULL,        -- 0-based pixel on the difference image
  y double precision NOT NULL,
  flux double precision,              -- difference-image counts
  flux_err double precision,
  flags integer NOT NULL,
  PRIMARY KEY (object_id, diff_job_id)
);
CREATE INDEX forced_sources_job ON forced_sources (job_id);

-- Header stamping: when the science job's products were given their database ids.
ALTER TABLE jobs ADD COLUMN stamped_at timestamptz;

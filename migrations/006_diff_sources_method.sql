-- SFFT beside ZOGY (issue 19): each difference-image source records the subtraction method whose
-- catalog it came from ('zogy' or 'sfft'). A job's two catalogs are each numbered from 1, so a
-- source is known by (job_id, method, number).
ALTER TABLE diff_sources ADD COLUMN method text NOT NULL DEFAULT 'zogy';
ALTER TABLE diff_sources DROP CONSTRAINT IF EXISTS diff_sources_job_id_number_key;
ALTER TABLE diff_sources ADD CONSTRAINT diff_sources_job_method_number_key UNIQUE (job_id, method, number);

-- diff_sources.image_id and refimage_id are copies of their job's, kept for queries without a
-- join. The job's own foreign keys guard them: a job cannot lose its image or reference while it
-- exists, and a job's sources go with it (ON DELETE CASCADE). Checking them again for every source
-- row cost a third of the time aggregation spends registering sources, so the checks go.
ALTER TABLE diff_sources DROP CONSTRAINT IF EXISTS diff_sources_image_id_fkey;
ALTER TABLE diff_sources DROP CONSTRAINT IF EXISTS diff_sources_refimage_id_fkey;

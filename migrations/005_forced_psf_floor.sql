-- Forced photometry's PSF-model floor. Each forced measurement keeps the job's own error
-- (flux_err_fit) and, where the object was bright and alone, its PSF flux checked against an
-- aperture (ap_ratio = PSF flux / aperture flux - 1, ap_var its noise variance). `rapid
-- postprocess` pools the checks of every image of a filter into the PSF model's relative error
-- and sets flux_err = flux_err_fit (+) that fraction of the flux, in quadrature.
ALTER TABLE forced_sources ADD COLUMN flux_err_fit double precision;
ALTER TABLE forced_sources ADD COLUMN ap_ratio double precision;
ALTER TABLE forced_sources ADD COLUMN ap_var double precision;
UPDATE forced_sources SET flux_err_fit = flux_err;

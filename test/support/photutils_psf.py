#!/usr/bin/env python3
"""PSF-fit fluxes with photutils (a referee for our FLUX_PSF), for test/photutils.test.ts.

Usage: photutils_psf.py PARAMS.json, where PARAMS holds
  image: .npy, background-subtracted (NaN = no data); fitshape: odd box side in pixels;
  positions: [[x, y, flux guess], ...] (0-based, pixel centres at integers, as ours);
and either
  psf: .npy, one PSF grid for every star (odd sides, centred), `oversampling` nodes per pixel,
  with fit_position: whether photutils fits the positions too (else they stay fixed);
or
  stamps: one pixel-sampled stamp per star (flat lists, odd side, unit sum) already at the
  star's sub-pixel phase: each star gets its own model, placed on its position (then a whole
  pixel, the stamp's centre) and fixed there, so photutils fits exactly those pixel values.
Prints a JSON list, in the order of `positions`, of [x, y, flux, sum of the model over the fit
box there]: photutils' flux is that of a model whose whole grid holds unit flux, ours that of a
stamp of unit sum, so flux × sum is the flux in our convention.

Written for photutils 1.6 (Debian 12): BasicPSFPhotometry with a FittableImageModel, each star
its own group (DAOPHOT's NSTAR: fitted groups are subtracted before the next), no background
estimator (the image is background-subtracted already), astropy's Levenberg-Marquardt fitter,
unweighted. Later photutils versions name these PSFPhotometry and ImagePSF.
"""
import json
import sys

import numpy as np
from astropy.table import Table
from photutils.psf import BasicPSFPhotometry, DAOGroup, FittableImageModel


def fit(image, model, positions, fitshape, fit_position):
    model.x_0.fixed = model.y_0.fixed = not fit_position
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    guesses = Table({'id': np.arange(1, len(pos) + 1), 'x_0': pos[:, 0], 'y_0': pos[:, 1],
                     'flux_0': pos[:, 2]})
    phot = BasicPSFPhotometry(group_maker=DAOGroup(1e-3), bkg_estimator=None, psf_model=model,
                              fitshape=fitshape, finder=None, aperture_radius=None)
    t = phot(image, mask=~np.isfinite(image), init_guesses=guesses)
    t.sort('id')
    h = fitshape // 2
    yy, xx = np.mgrid[-h:h + 1, -h:h + 1]
    rows = []
    for r in t:
        x, y = float(r['x_fit']), float(r['y_fit'])
        cx, cy = np.floor(x + 0.5), np.floor(y + 0.5)
        total = float(model.evaluate(xx + cx, yy + cy, 1.0, x, y).sum())
        rows.append([x, y, float(r['flux_fit']), total])
    return rows


def main(path):
    with open(path) as f:
        p = json.load(f)
    image = np.load(p['image']).astype(float)
    fitshape = int(p['fitshape'])
    if 'stamps' in p:
        rows = []
        for stamp, start in zip(p['stamps'], p['positions']):
            a = np.asarray(stamp, dtype=float)
            side = int(round(np.sqrt(a.size)))
            model = FittableImageModel(a.reshape(side, side), normalize=False)
            rows += fit(image, model, start, fitshape, False)
    else:
        psf = np.load(p['psf']).astype(float)
        n = int(p.get('oversampling', 1))
        # Unit flux: the grid sampled at whole pixels sums to about 1 (the grid sums to n²).
        model = FittableImageModel(psf / psf.sum() * n * n, oversampling=n, normalize=False)
        rows = fit(image, model, p['positions'], fitshape, bool(p.get('fit_position', False)))
    print(json.dumps(rows))


if __name__ == '__main__':
    main(sys.argv[1])

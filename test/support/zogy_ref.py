#!/usr/bin/env python3
"""An independent numpy ZOGY (Zackay, Ofek & Gal-Yam 2016, ApJ 830, 27), a referee for our own.

Written from the paper's equations alone; F_r = 1, F_n = the flux ratio (new / reference):

  den   = sqrt(sn^2 Fr^2 |Pr^|^2 + sr^2 Fn^2 |Pn^|^2)
  D^    = (Fr Pr^ N^ - Fn Pn^ R^) / den                      (eq. 13)
  F_D   = Fr Fn / sqrt(sn^2 Fr^2 + sr^2 Fn^2)                 (eq. 15)
  P_D^  = Fr Fn Pr^ Pn^ / (F_D den)                           (eq. 14)
  S     = F_D D (x) P_D(-x),  S^ = F_D D^ conj(P_D^)          (eq. 12, 17)
  k_n^  = Fn Fr^2 conj(Pn^) |Pr^|^2 / den^2,  k_r^ = Fr Fn^2 conj(Pr^) |Pn^|^2 / den^2   (eq. 28-29)
  S_N   = k_n (x) N,  S_R = k_r (x) R   (so S = S_N - S_R)
  V(S_N) = V_n (x) k_n^2,  V(S_R) = V_r (x) k_r^2              (eq. 26-27)
  V_ast(S_N) = sx^2 (dS_N/dx)^2 + sy^2 (dS_N/dy)^2, same for S_R   (eq. 30-31)
  Scorr = S / sqrt(V(S_N) + V(S_R) + V_ast(S_N) + V_ast(S_R))     (eq. 25)

Usage: zogy_ref.py PARAMS.json. PARAMS holds
  new, ref, psf_new, psf_ref: .npy or .fits paths (images background-subtracted; NaN = no data);
  var_new, var_ref: a path or a number (per-pixel variance, background plus source noise);
  sigma_new, sigma_ref: background sigma; flux_ratio: F_n / F_r; astrometric_sigma: [sx, sy] px;
  out: a folder; format: "npy" (default) or "fits".
Writes D, S, Scorr (image size; NaN where either input is NaN) and P_D (the PSF stamp's size)
into `out`, and prints {"F_D": ...} on standard output. Images are padded with zeros so that
the kernels do not wrap around.
"""
import json
import os
import sys

import numpy as np


def load(v, shape=None):
    if isinstance(v, (int, float)):
        return np.full(shape, float(v))
    if v.endswith('.npy'):
        return np.load(v).astype(np.float64)
    from astropy.io import fits
    return np.asarray(fits.getdata(v), dtype=np.float64)


def save(out, name, a, fmt):
    if fmt == 'fits':
        from astropy.io import fits
        fits.writeto(os.path.join(out, name + '.fits'), a.astype(np.float32), overwrite=True)
    else:
        np.save(os.path.join(out, name + '.npy'), a)


def transfer(psf, shape):
    """FFT of a centred odd-sided stamp placed with its centre on pixel (0, 0), unit sum."""
    z = np.zeros(shape)
    s0, s1 = psf.shape
    z[:s0, :s1] = psf / psf.sum()
    return np.fft.fft2(np.roll(z, (-(s0 // 2), -(s1 // 2)), axis=(0, 1)))


def zogy(N, R, Pn, Pr, Vn, Vr, sn, sr, Fn, sx=0.0, sy=0.0, Fr=1.0):
    h, w = N.shape
    bad = ~np.isfinite(N) | ~np.isfinite(R)
    pad = 4 * max(Pn.shape + Pr.shape) + 16
    shape = (h + 2 * pad, w + 2 * pad)

    def embed(a, fill):
        z = np.zeros(shape)
        z[pad:pad + h, pad:pad + w] = np.where(bad | ~np.isfinite(a), fill, a)
        return z

    fft, ifft = np.fft.fft2, lambda a: np.fft.ifft2(a).real
    N_, R_ = fft(embed(N, 0.0)), fft(embed(R, 0.0))
    Pn_, Pr_ = transfer(Pn, shape), transfer(Pr, shape)
    # (a floor where both PSFs vanish, so that 0 / 0 does not happen)
    den2 = np.maximum(sn**2 * Fr**2 * np.abs(Pr_) ** 2 + sr**2 * Fn**2 * np.abs(Pn_) ** 2, 1e-300)
    den = np.sqrt(den2)
    D_ = (Fr * Pr_ * N_ - Fn * Pn_ * R_) / den                       # eq. 13
    FD = Fr * Fn / np.sqrt(sn**2 * Fr**2 + sr**2 * Fn**2)            # eq. 15
    PD_ = Fr * Fn * Pr_ * Pn_ / (FD * den)                            # eq. 14
    S_ = FD * D_ * np.conj(PD_)                                       # eq. 12 / 17
    kn_ = Fn * Fr**2 * np.conj(Pn_) * np.abs(Pr_) ** 2 / den2         # eq. 29
    kr_ = Fr * Fn**2 * np.conj(Pr_) * np.abs(Pn_) ** 2 / den2         # eq. 28
    D, S = ifft(D_), ifft(S_)
    SN, SR = ifft(kn_ * N_), ifft(kr_ * R_)
    kn, kr = ifft(kn_), ifft(kr_)
    VSN = ifft(fft(embed(Vn, sn**2)) * fft(kn**2))                    # eq. 26
    VSR = ifft(fft(embed(Vr, sr**2)) * fft(kr**2))                    # eq. 27
    gy_n, gx_n = np.gradient(SN)
    gy_r, gx_r = np.gradient(SR)
    Vast = sx**2 * (gx_n**2 + gx_r**2) + sy**2 * (gy_n**2 + gy_r**2)  # eq. 30-31
    Scorr = S / np.sqrt(np.maximum(VSN + VSR, 1e-300) + Vast)          # eq. 25
    crop = (slice(pad, pad + h), slice(pad, pad + w))
    out = {k: v[crop].copy() for k, v in (('D', D), ('S', S), ('Scorr', Scorr))}
    for v in out.values():
        v[bad] = np.nan
    side = max(Pn.shape[0], Pr.shape[0])
    pd = np.fft.fftshift(ifft(PD_))
    c0, c1 = shape[0] // 2, shape[1] // 2
    out['P_D'] = pd[c0 - side // 2:c0 + side // 2 + 1, c1 - side // 2:c1 + side // 2 + 1]
    return out, FD


def main(path):
    with open(path) as f:
        p = json.load(f)
    N, R = load(p['new']), load(p['ref'])
    out, FD = zogy(
        N, R, load(p['psf_new']), load(p['psf_ref']),
        load(p['var_new'], N.shape), load(p['var_ref'], R.shape),
        float(p['sigma_new']), float(p['sigma_ref']), float(p['flux_ratio']),
        *[float(v) for v in p.get('astrometric_sigma', [0.0, 0.0])],
    )
    os.makedirs(p['out'], exist_ok=True)
    for name in ('D', 'S', 'Scorr', 'P_D'):
        save(p['out'], name, out[name], p.get('format', 'npy'))
    print(json.dumps({'F_D': FD}))


if __name__ == '__main__':
    main(sys.argv[1])

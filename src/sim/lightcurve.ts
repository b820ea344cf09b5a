/**
 * Light curves of the simulated transients and variables: flux at any time in any filter.
 * Fluxes are relative to the object's reference magnitude in each filter.
 */

export type LightCurve =
  /**
   * Supernova-like: a Bazin rise and decline around `t0` (MJD), peak magnitude per filter; no
   * light before `explosion` (MJD) when given (the Bazin rise has an endless tail).
   */
  | { kind: 'supernova'; t0: number; rise: number; fall: number; explosion?: number }
  /** Periodic variable star: sinusoidal in magnitude around the mean. */
  | { kind: 'variable'; period: number; amplitude: number; phase: number }
  /** Flare: instant rise at `t0`, exponential decay with time constant `decay` (days). */
  | { kind: 'flare'; t0: number; decay: number };

/** Below this fraction of peak flux a transient counts as off (7.5 mag below peak). */
export const OFF_FRACTION = 1e-3;

/** Bazin function, normalised to a maximum of 1. */
function bazin(dt: number, rise: number, fall: number): number {
  const g = (t: number) => Math.exp(-t / fall) / (1 + Math.exp(-t / rise));
  // The maximum is at t = rise·ln(fall/rise − 1) when fall > 2·rise; search otherwise.
  const tPeak = fall > rise ? rise * Math.log(Math.max(fall / rise - 1, 1e-9)) : 0;
  return g(dt) / g(tPeak);
}

/**
 * Flux at time `mjd` as a multiple of the object's reference flux (the peak flux for a
 * supernova or flare, the mean flux for a variable). 0 when a transient is off.
 */
export function relativeFlux(lc: LightCurve, mjd: number): number {
  switch (lc.kind) {
    case 'supernova': {
      if (lc.explosion !== undefined && mjd < lc.explosion) return 0;
      const f = bazin(mjd - lc.t0, lc.rise, lc.fall);
      return f >= OFF_FRACTION ? f : 0;
    }
    case 'variable': {
      const dm = (lc.amplitude / 2) * Math.sin((2 * Math.PI * mjd) / lc.period + lc.phase);
      return 10 ** (-0.4 * dm);
    }
    case 'flare': {
      if (mjd < lc.t0) return 0;
      const f = Math.exp(-(mjd - lc.t0) / lc.decay);
      return f >= OFF_FRACTION ? f : 0;
    }
  }
}

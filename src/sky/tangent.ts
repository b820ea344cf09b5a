/**
 * Small offsets on the sky through the gnomonic (tangent-plane) projection: standard
 * coordinates (ξ, η) in degrees around a centre, east and north.
 */
import type { SkyPosition } from './tiles.ts';

const DEG = Math.PI / 180;

/** The sky position at standard coordinates (ξ east, η north; degrees) around `centre`. */
export function offsetPosition(centre: SkyPosition, xi: number, eta: number): SkyPosition {
  const a0 = centre.ra * DEG;
  const d0 = centre.dec * DEG;
  const x = xi * DEG;
  const y = eta * DEG;
  const denom = Math.cos(d0) - y * Math.sin(d0);
  let ra = (a0 + Math.atan2(x, denom)) / DEG;
  ra = ((ra % 360) + 360) % 360;
  const dec = Math.atan2(Math.sin(d0) + y * Math.cos(d0), Math.hypot(x, denom)) / DEG;
  return { ra, dec };
}

/** Standard coordinates (degrees) of `p` around `centre`; the inverse of offsetPosition. */
export function standardCoordinates(centre: SkyPosition, p: SkyPosition): { xi: number; eta: number } {
  const a0 = centre.ra * DEG;
  const d0 = centre.dec * DEG;
  const a = p.ra * DEG;
  const d = p.dec * DEG;
  const cosc = Math.sin(d0) * Math.sin(d) + Math.cos(d0) * Math.cos(d) * Math.cos(a - a0);
  const xi = (Math.cos(d) * Math.sin(a - a0)) / cosc;
  const eta = (Math.cos(d0) * Math.sin(d) - Math.sin(d0) * Math.cos(d) * Math.cos(a - a0)) / cosc;
  return { xi: xi / DEG, eta: eta / DEG };
}

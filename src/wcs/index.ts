/**
 * World coordinates: pixel ↔ sky for celestial images (TAN, SIN, ZPN; SIP and TPV distortion).
 * Numerics only: headers come in as parsed Header objects, no file I/O happens here.
 */
export {
  hasCelestialAxes,
  type ReadWcsOptions,
  readWcsParameters,
  type WcsParameters,
  writeWcsParameters,
} from './keywords.ts';
export { Poly2 } from './polynomial.ts';
export { makeProjection, PROJECTION_CODES, type Projection, type ProjectionCode } from './projection.ts';
export { nativeToSky, rotationMatrix, skyToNative } from './rotation.ts';
export { SIP_INVERSE_TOLERANCE, SipDistortion, type SipInverseMode } from './sip.ts';
export { TPV_POWERS, TPV_TERMS, TpvDistortion } from './tpv.ts';
export {
  type Footprint,
  type Jacobian,
  type PixelArea,
  type PixelArrays,
  type PixelOptions,
  type PixelOrigin,
  type PixelPosition,
  type SkyArrays,
  type SkyPosition,
  type SkyToPixelOptions,
  Wcs,
} from './wcs.ts';

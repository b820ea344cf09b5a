/**
 * CLASS_STAR: SourceExtractor's star/galaxy neural network (a .nnw file, e.g. default.nnw),
 * evaluated on SourceExtractor's inputs: the eight isophotal areas (in units of the seeing
 * disk, log10), the peak over the analysis threshold (log10), and the seeing FWHM in arcsec
 * (log10). Sigmoid neurons, as SourceExtractor's neurro.c.
 */
import type { NeuralNetwork } from './config.ts';
import type { SourceObject } from './object.ts';

/** The network's response to one input vector. */
export function networkResponse(net: NeuralNetwork, input: readonly number[]): number[] {
  let layer = input.map((v, i) => v * net.inScale[i] + net.inBias[i]);
  for (let l = 0; l < net.layers.length - 1; l++) {
    const next: number[] = [];
    for (let j = 0; j < net.layers[l + 1]; j++) {
      let s = net.biases[l][j];
      const w = net.weights[l][j];
      for (let i = 0; i < net.layers[l]; i++) s += w[i] * layer[i];
      next.push(1 / (1 + Math.exp(-s)));
    }
    layer = next;
  }
  return layer.map((v, i) => (v - net.outBias[i]) / net.outScale[i]);
}

/**
 * CLASS_STAR of an analysed object. `seeingFwhm` in arcsec, `pixelScale` in arcsec per pixel,
 * `analysisThreshold` the global analysis threshold (measurement units).
 */
export function classStar(
  net: NeuralNetwork,
  obj: SourceObject,
  seeingFwhm: number,
  pixelScale: number,
  analysisThreshold: number,
): number {
  const fac2 = (seeingFwhm / pixelScale) ** 2;
  const input: number[] = [];
  input.push(Math.log10(obj.iso[0] ? obj.iso[0] / fac2 : 0.01));
  input.push(analysisThreshold > 0 ? Math.log10(obj.peak > 0 ? obj.peak / analysisThreshold : 0.1) : -1);
  for (let i = 1; i < obj.iso.length; i++) input.push(Math.log10(obj.iso[i] ? obj.iso[i] / fac2 : 0.01));
  input.push(Math.log10(seeingFwhm));
  return Math.fround(networkResponse(net, input)[0]);
}

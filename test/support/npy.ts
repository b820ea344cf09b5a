/** numpy's .npy files, to hand arrays to the Python referees and read theirs back. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';

/** A float32 .npy file (format 1.0, C order). */
export function writeNpy(path: string, data: Float32Array, shape: number[]): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  header += `${' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64)}\n`;
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  writeFileSync(path, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

/** A float64 .npy file as numpy.save writes it. */
/** A float64 .npy file (C order). */
export function readNpy(path: string): Float64Array {
  const b = readFileSync(path);
  const v1 = b[6] === 1;
  const start = v1 ? 10 : 12;
  const len = v1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const header = b.toString('latin1', start, start + len);
  assert.match(header, /'descr': '<f8'/);
  assert.match(header, /'fortran_order': False/);
  const body = b.subarray(start + len);
  return new Float64Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
}

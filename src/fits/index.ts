/** FITS reading and writing: the public API of src/fits. */
export type { NumericArray } from './bytes.ts';
export { addSums, encodeChecksum, onesComplementSum } from './checksum.ts';
export { FitsFile, parseFits, type ReadOptions, readFits, readFitsBytes } from './file.ts';
export { DEFAULT_MAX_DECOMPRESSED_BYTES, MAX_DECOMPRESSED_ENV, maxDecompressedBytes } from './gzip.ts';
export { BITPIX_VALUES, type Bitpix, Hdu, type HduKind } from './hdu.ts';
export {
  BLOCK_LENGTH,
  CARD_LENGTH,
  type Card,
  type CardValue,
  formatCard,
  Header,
  type HeaderSource,
  parseCard,
  type WarningSink,
} from './header.ts';
export { anyValidPixel, type FitsImage, type ImageData, readImage } from './image.ts';
export { type ColumnInput, type ColumnValues, type FitsColumn, type FitsTable, readTable } from './table.ts';
export { type HduReport, type SumStatus, type VerifyReport, verifyBytes, verifyFits } from './verify.ts';
export {
  encodeFits,
  type HduInput,
  type ImageHduInput,
  type TableHduInput,
  type WriteOptions,
  writeFits,
} from './write.ts';

// CRC combination: the CRC of A‖B from crc(A), crc(B) and len(B), without reading
// the data again. Used for FULL_OBJECT checksums of multipart uploads, where each
// part's CRC is known and the object's CRC must be derived at CompleteMultipartUpload.
//
// The method is the one zlib's crc32_combine made well known: appending len(B) zero
// bytes to A is linear over GF(2), so it is a W×W bit-matrix applied to the CRC
// register. The matrix for one zero bit comes from the polynomial; squaring it
// doubles the number of zero bits. Because init and xorout are both all-ones for all
// three CRCs here, the finalized values combine directly:
//   crc(A‖B) = Z^len(B) · crc(A)  ⊕  crc(B)
// Unlike zlib we square once per algorithm and keep Z^(2^k) for every k, so each
// combine is at most 53 matrix-vector products (lengths are < 2^53), not squarings.
//
// Registers and matrix rows are held as 32-bit halves so the 64-bit CRC needs no
// BigInt.

export interface CrcSpec {
  /** Register width in bits: 32 or 64. */
  width: 32 | 64;
  /** Reflected polynomial, low 32 bits. */
  polyLo: number;
  /** Reflected polynomial, high 32 bits (0 for 32-bit CRCs). */
  polyHi: number;
}

/** A W×W GF(2) matrix: row n (lo at 2n, hi at 2n+1) is the image of register bit n. */
type Matrix = Uint32Array;

function timesVector(m: Matrix, width: number, lo: number, hi: number): [number, number] {
  let rlo = 0;
  let rhi = 0;
  for (let n = 0; n < width; n++) {
    const bit = n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
    if (bit) {
      rlo ^= m[2 * n]!;
      rhi ^= m[2 * n + 1]!;
    }
  }
  return [rlo >>> 0, rhi >>> 0];
}

function square(m: Matrix, width: number): Matrix {
  const out = new Uint32Array(2 * width);
  for (let n = 0; n < width; n++) {
    const [lo, hi] = timesVector(m, width, m[2 * n]!, m[2 * n + 1]!);
    out[2 * n] = lo;
    out[2 * n + 1] = hi;
  }
  return out;
}

/** Z^(2^k) for one zero *byte* times 2^k, k = 0..52. */
function zeroByteOperators(spec: CrcSpec): Matrix[] {
  const w = spec.width;
  // Operator for one zero bit on a reflected register: bit 0 shifts out and, if set,
  // folds in the polynomial; every other bit n moves to n-1.
  let m: Matrix = new Uint32Array(2 * w);
  m[0] = spec.polyLo;
  m[1] = spec.polyHi;
  for (let n = 1; n < w; n++) {
    const target = n - 1;
    if (target < 32) m[2 * n] = (1 << target) >>> 0;
    else m[2 * n + 1] = (1 << (target - 32)) >>> 0;
  }
  for (let i = 0; i < 3; i++) m = square(m, w); // 1 → 2 → 4 → 8 bits
  const ops: Matrix[] = [m];
  for (let k = 1; k < 53; k++) ops.push(square(ops[k - 1]!, w));
  return ops;
}

const cache = new Map<CrcSpec, Matrix[]>();

function operatorsFor(spec: CrcSpec): Matrix[] {
  let ops = cache.get(spec);
  if (!ops) {
    ops = zeroByteOperators(spec);
    cache.set(spec, ops);
  }
  return ops;
}

/**
 * crc(A‖B) from finalized crc(A) and crc(B) (given as lo/hi halves) and len(B).
 * Returns lo/hi halves.
 */
export function combineHalves(
  spec: CrcSpec,
  a: [number, number],
  b: [number, number],
  lenB: number,
): [number, number] {
  if (!Number.isSafeInteger(lenB) || lenB < 0) throw new RangeError(`invalid length ${lenB}`);
  const ops = operatorsFor(spec);
  let [lo, hi] = a;
  let len = lenB;
  for (let k = 0; len > 0; k++, len = Math.floor(len / 2)) {
    if (len % 2 === 1) [lo, hi] = timesVector(ops[k]!, spec.width, lo, hi);
  }
  return [(lo ^ b[0]) >>> 0, (hi ^ b[1]) >>> 0];
}

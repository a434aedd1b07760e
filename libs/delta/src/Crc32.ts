/** bzip2's CRC-32: the polynomial 0x04c11db7, most significant bit first (not zlib's reflected CRC). */

const table = (() => {
  const out = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i << 24
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1
    out[i] = c >>> 0
  }
  return out
})()

export const initial = 0xffffffff

/** The running CRC after one more byte. */
export const update = (crc: number, byte: number): number => ((crc << 8) ^ table[((crc >>> 24) ^ byte) & 0xff]!) >>> 0

/** The final value of a running CRC. */
export const finish = (crc: number): number => ~crc >>> 0

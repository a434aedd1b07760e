/** Deterministic test bytes: xorshift32 from a seed. */
export const prng = (seed: number) => () => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 2 ** 32
}

export const random = (size: number, seed: number) => {
  const next = prng(seed)
  return Uint8Array.from({ length: size }, () => Math.floor(next() * 256))
}

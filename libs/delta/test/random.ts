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

/** A "new release": spans kept with every 997th byte nudged, random spans inserted and deleted. */
export const evolve = (old: Uint8Array, seed: number, maxKeep = 60_000) => {
  const next = prng(seed)
  const parts: Array<Uint8Array> = []
  let at = 0
  while (at < old.length) {
    const keep = Math.floor(next() * maxKeep)
    const kept = old.slice(at, at + keep)
    for (let i = 0; i < kept.length; i += 997) kept[i] = (kept[i]! + 1) & 0xff
    parts.push(kept)
    at += keep
    const roll = next()
    if (roll < 0.3) parts.push(random(Math.floor(next() * 5000), seed + at))
    else if (roll < 0.5) at += Math.floor(next() * 3000)
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * IPv6 addresses in text (RFC 4291 §2.2, with an embedded IPv4 tail) to their 16 bytes and back in
 * the canonical form of RFC 5952 (lower case, longest zero run as `::`), so what the kernel reports
 * compares equal to what a configuration says.
 */

export const parse = (text: string): Uint8Array | undefined => {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text)) return undefined
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const groups = (part: string): Array<number> | undefined => {
    if (part === "") return []
    const out: Array<number> = []
    const pieces = part.split(":")
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = piece.split(".")
        if (v4.length !== 4 || !v4.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined
        const [a, b, c, d] = v4.map(Number) as [number, number, number, number]
        out.push((a << 8) | b, (c << 8) | d)
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined
        out.push(parseInt(piece, 16))
      }
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const all = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail]
  const bytes = new Uint8Array(16)
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8
    bytes[i * 2 + 1] = group & 255
  })
  return bytes
}

export const format = (bytes: Uint8Array): string => {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[i * 2]! << 8) | bytes[i * 2 + 1]!)
  // The longest run of two or more zero groups (the first if tied) becomes "::".
  let best = { at: -1, length: 1 }
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best.length) best = { at: i, length: j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (best.at < 0) return hex.join(":")
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.length).join(":")}`
}

/** `address/prefix` with a prefix length of 0 to 128. */
export const isCidr = (text: string): boolean => {
  const [address, prefix, extra] = text.split("/")
  return extra === undefined && address !== undefined && parse(address) !== undefined && /^\d{1,3}$/.test(prefix ?? "") && Number(prefix) <= 128
}

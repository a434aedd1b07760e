/** Dotted-quad IPv4 addresses and prefix lengths, to and from their 32-bit and byte forms. */

export const isAddress = (text: string): boolean => {
  const parts = text.split(".")
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)
}

export const toNumber = (address: string): number => address.split(".").reduce((n, part) => n * 256 + Number(part), 0) >>> 0

export const fromNumber = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".")

export const fromBytes = (bytes: Uint8Array, offset = 0): string =>
  `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`

export const toBytes = (address: string): Uint8Array => Uint8Array.from(address.split(".").map(Number))

/** 255.255.255.0 → 24; undefined for a mask whose ones are not contiguous. */
export const prefixOfMask = (mask: string): number | undefined => {
  const n = toNumber(mask)
  const ones = Math.clz32(~n)
  return toNumber(maskOfPrefix(ones)) === n ? ones : undefined
}

export const maskOfPrefix = (prefix: number): string => fromNumber(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)

/** The network address of `address/prefix`. */
export const networkOf = (address: string, prefix: number): string => fromNumber((toNumber(address) & toNumber(maskOfPrefix(prefix))) >>> 0)

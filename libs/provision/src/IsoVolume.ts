/**
 * ISO 9660 volumes as far as finding a seed needs: the volume identifier of the primary volume
 * descriptor (ECMA-119 §8.4), which is where `cloud-localds` and `genisoimage -volid cidata` put
 * the NoCloud label. The descriptor set starts at sector 16 (2048-byte sectors).
 */

/** How many bytes from a device's start hold the primary volume descriptor's identifier. */
export const headBytes = 16 * 2048 + 2048

/** The volume identifier of an ISO 9660 volume; undefined when `head` is not one. */
export const labelOf = (head: Uint8Array): string | undefined => {
  const at = 16 * 2048
  if (head.length < at + 72) return undefined
  const text = (offset: number, length: number) => String.fromCharCode(...head.subarray(at + offset, at + offset + length))
  // Type 1 (primary), standard identifier CD001, version 1.
  if (head[at] !== 1 || text(1, 5) !== "CD001" || head[at + 6] !== 1) return undefined
  return text(40, 32).trimEnd()
}

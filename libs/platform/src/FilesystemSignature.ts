/**
 * What is on a partition, read from its first bytes: the superblock magics of the filesystems a
 * KeelOS disk (or a disk it must never touch) can hold. First boot formats the data partition only
 * when this says `empty`: every byte read is zero, so nothing, not even an unknown format, is lost.
 */

export type Signature = "empty" | "ext" | "vfat" | "squashfs" | "xfs" | "btrfs" | "swap" | "luks" | "unknown"

/** Bytes to read from the start of a partition for `detect`. */
export const probeBytes = 128 * 1024

const ascii = (bytes: Uint8Array, at: number, text: string) => {
  if (at + text.length > bytes.length) return false
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false
  return true
}

export const detect = (bytes: Uint8Array): Signature => {
  if (ascii(bytes, 0, "hsqs")) return "squashfs"
  if (ascii(bytes, 0, "XFSB")) return "xfs"
  if (ascii(bytes, 0, "LUKS\u00ba\u00be")) return "luks"
  if (bytes.length > 1081 && bytes[1080] === 0x53 && bytes[1081] === 0xef) return "ext"
  if (ascii(bytes, 65600, "_BHRfS_M")) return "btrfs"
  if (ascii(bytes, 4086, "SWAPSPACE2") || ascii(bytes, 4086, "SWAP-SPACE")) return "swap"
  if (bytes[510] === 0x55 && bytes[511] === 0xaa && (ascii(bytes, 54, "FAT") || ascii(bytes, 82, "FAT32"))) return "vfat"
  return bytes.every((b) => b === 0) ? "empty" : "unknown"
}

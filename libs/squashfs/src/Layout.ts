/**
 * The SquashFS 4.0 on-disk layout both the writer and the reader speak: the superblock, the flags
 * and the numbers the kernel (fs/squashfs) and GRUB (squash4) check. Kept in one place so the two
 * sides cannot drift apart.
 */

export const magic = 0x73717368
export const superblockSize = 96
export const metadataSize = 8192
/** Set in a metadata block's 16-bit header when the block is stored as is. */
export const metadataUncompressed = 0x8000
/** Set in a data block's size when the block is stored as is. */
export const dataUncompressed = 1 << 24
export const invalidBlock = 0xffffffffffffffffn
export const noFragment = 0xffffffff
export const noXattr = 0xffffffff
/** Entries one directory header may carry (the kernel refuses more). */
export const directoryHeaderEntries = 256

export const compressionZlib = 1

export const flags = {
  noFragments: 0x0010,
  noXattrs: 0x0200
} as const

/** Inode types; directory entries carry the basic ones. */
export const inodeType = {
  dir: 1,
  file: 2,
  symlink: 3,
  blockdev: 4,
  chardev: 5,
  fifo: 6,
  socket: 7,
  ldir: 8,
  lfile: 9
} as const

export interface Superblock {
  readonly inodeCount: number
  readonly mkfsTime: number
  readonly blockSize: number
  readonly fragmentCount: number
  readonly compression: number
  readonly blockLog: number
  readonly flags: number
  readonly idCount: number
  readonly rootInode: bigint
  readonly bytesUsed: bigint
  readonly idTableStart: bigint
  readonly xattrTableStart: bigint
  readonly inodeTableStart: bigint
  readonly directoryTableStart: bigint
  readonly fragmentTableStart: bigint
  readonly exportTableStart: bigint
}

export const encodeSuperblock = (sb: Superblock): Uint8Array => {
  const bytes = new Uint8Array(superblockSize)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, magic, true)
  view.setUint32(4, sb.inodeCount, true)
  view.setUint32(8, sb.mkfsTime, true)
  view.setUint32(12, sb.blockSize, true)
  view.setUint32(16, sb.fragmentCount, true)
  view.setUint16(20, sb.compression, true)
  view.setUint16(22, sb.blockLog, true)
  view.setUint16(24, sb.flags, true)
  view.setUint16(26, sb.idCount, true)
  view.setUint16(28, 4, true)
  view.setUint16(30, 0, true)
  view.setBigUint64(32, sb.rootInode, true)
  view.setBigUint64(40, sb.bytesUsed, true)
  view.setBigUint64(48, sb.idTableStart, true)
  view.setBigUint64(56, sb.xattrTableStart, true)
  view.setBigUint64(64, sb.inodeTableStart, true)
  view.setBigUint64(72, sb.directoryTableStart, true)
  view.setBigUint64(80, sb.fragmentTableStart, true)
  view.setBigUint64(88, sb.exportTableStart, true)
  return bytes
}

/** The superblock's fields, or the reason these 96 bytes are not a SquashFS 4.0 superblock. */
export const decodeSuperblock = (bytes: Uint8Array): Superblock | string => {
  if (bytes.length < superblockSize) return "shorter than a superblock"
  const view = new DataView(bytes.buffer, bytes.byteOffset, superblockSize)
  if (view.getUint32(0, true) !== magic) return "no SquashFS magic"
  const major = view.getUint16(28, true)
  const minor = view.getUint16(30, true)
  if (major !== 4 || minor !== 0) return `SquashFS ${major}.${minor}, not 4.0`
  const blockSize = view.getUint32(12, true)
  const blockLog = view.getUint16(22, true)
  if (blockLog < 12 || blockLog > 20 || blockSize !== 1 << blockLog) return `block size ${blockSize} does not match its log ${blockLog}`
  return {
    inodeCount: view.getUint32(4, true),
    mkfsTime: view.getUint32(8, true),
    blockSize,
    fragmentCount: view.getUint32(16, true),
    compression: view.getUint16(20, true),
    blockLog,
    flags: view.getUint16(24, true),
    idCount: view.getUint16(26, true),
    rootInode: view.getBigUint64(32, true),
    bytesUsed: view.getBigUint64(40, true),
    idTableStart: view.getBigUint64(48, true),
    xattrTableStart: view.getBigUint64(56, true),
    inodeTableStart: view.getBigUint64(64, true),
    directoryTableStart: view.getBigUint64(72, true),
    fragmentTableStart: view.getBigUint64(80, true),
    exportTableStart: view.getBigUint64(88, true)
  }
}

/** An inode reference: the metadata block's offset in its table, and the offset inside the block. */
export const inodeRef = (block: number, offset: number): bigint => (BigInt(block) << 16n) | BigInt(offset)
export const refBlock = (ref: bigint): number => Number(ref >> 16n)
export const refOffset = (ref: bigint): number => Number(ref & 0xffffn)

/** Device numbers as the kernel's new_encode_dev packs them. */
export const encodeDevice = (major: number, minor: number): number =>
  ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0
export const decodeDevice = (rdev: number): { readonly major: number; readonly minor: number } => ({
  major: (rdev & 0xfff00) >>> 8,
  minor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00)
})

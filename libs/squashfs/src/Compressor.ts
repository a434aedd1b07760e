/**
 * The block compressor: zlib (SquashFS compression id 1) at level 9, the one both the kernel and
 * GRUB's squash4 read. Node's zlib gives the same bytes for the same input on every x86-64 CPU
 * model (checked under QEMU's qemu64, Nehalem and max models), which is what lets a node rebuild an
 * image bit for bit; the version it reports is part of the writer's fingerprint.
 */
import * as Zlib from "node:zlib"
import * as Layout from "./Layout.ts"

export interface Compressor {
  readonly id: number
  /** What the output depends on besides the input: a differing fingerprint means different bytes. */
  readonly fingerprint: string
  readonly compress: (bytes: Uint8Array) => Uint8Array
  readonly decompress: (bytes: Uint8Array, maxSize: number) => Uint8Array
}

export const zlib: Compressor = {
  id: Layout.compressionZlib,
  fingerprint: `zlib-${process.versions["zlib"] ?? "unknown"}-9-15`,
  compress: (bytes) => Zlib.deflateSync(bytes, { level: 9, windowBits: 15, memLevel: 8, strategy: Zlib.constants.Z_DEFAULT_STRATEGY }),
  decompress: (bytes, maxSize) => Zlib.inflateSync(bytes, { maxOutputLength: maxSize })
}

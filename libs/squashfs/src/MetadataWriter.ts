/**
 * A SquashFS metadata table being written: bytes go in uncompressed, come out as 8 KiB blocks each
 * behind a 16-bit header (compressed unless that would not save anything). A position is the
 * compressed offset of the block being filled and the offset inside it, which is what inode
 * references and directory entries record.
 */
import type { Compressor } from "./Compressor.ts"
import * as Layout from "./Layout.ts"

export class MetadataWriter {
  private pending = new Uint8Array(Layout.metadataSize * 2)
  private pendingLength = 0
  private readonly blocks: Array<Uint8Array> = []
  private written = 0
  private readonly compressor: Compressor

  constructor(compressor: Compressor) {
    this.compressor = compressor
  }

  /** Where the next byte goes: the current block's offset in the table and the offset inside it. */
  position(): { readonly block: number; readonly offset: number } {
    return { block: this.written, offset: this.pendingLength }
  }

  append(bytes: Uint8Array): void {
    let at = 0
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, Layout.metadataSize - this.pendingLength)
      this.pending.set(bytes.subarray(at, at + n), this.pendingLength)
      this.pendingLength += n
      at += n
      if (this.pendingLength === Layout.metadataSize) this.flush()
    }
  }

  private flush(): void {
    if (this.pendingLength === 0) return
    const raw = this.pending.subarray(0, this.pendingLength)
    const compressed = this.compressor.compress(raw)
    const stored = compressed.length < raw.length ? compressed : raw.slice()
    const header = new Uint8Array(2)
    new DataView(header.buffer).setUint16(0, stored === compressed ? stored.length : stored.length | Layout.metadataUncompressed, true)
    this.blocks.push(header, stored)
    this.written += 2 + stored.length
    this.pendingLength = 0
  }

  /** The whole table, the last partial block included; the writer is done after this. */
  finish(): Uint8Array {
    this.flush()
    const out = new Uint8Array(this.written)
    let at = 0
    for (const block of this.blocks) {
      out.set(block, at)
      at += block.length
    }
    return out
  }
}

/** Little-endian record building for inodes and directory entries. */
export class Record {
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private at = 0

  constructor(size: number) {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
  }

  u16(value: number): this {
    this.view.setUint16(this.at, value, true)
    this.at += 2
    return this
  }

  i16(value: number): this {
    this.view.setInt16(this.at, value, true)
    this.at += 2
    return this
  }

  u32(value: number): this {
    this.view.setUint32(this.at, value, true)
    this.at += 4
    return this
  }

  u64(value: bigint): this {
    this.view.setBigUint64(this.at, value, true)
    this.at += 8
    return this
  }

  raw(bytes: Uint8Array): this {
    this.bytes.set(bytes, this.at)
    this.at += bytes.length
    return this
  }

  done(): Uint8Array {
    return this.bytes.subarray(0, this.at)
  }
}

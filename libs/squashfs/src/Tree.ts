/**
 * What goes into an image: the entries of a file tree with the metadata SquashFS keeps (no
 * xattrs, no hard links), named by their path from the root ("" is the root). The writer and the
 * reader both speak it, so a tree read out of one image can be written into the next.
 */

export type Kind = "dir" | "file" | "symlink" | "blockdev" | "chardev" | "fifo" | "socket"

interface Common {
  /** The path from the root, without a leading slash; "" is the root. */
  readonly path: string
  /** Permission bits, setuid, setgid and sticky (mode & 0o7777). */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** Seconds since the epoch. */
  readonly mtime: number
}

export interface Directory extends Common {
  readonly kind: "dir"
}

export interface File extends Common {
  readonly kind: "file"
  readonly size: number
}

export interface Symlink extends Common {
  readonly kind: "symlink"
  readonly target: string
}

export interface Device extends Common {
  readonly kind: "blockdev" | "chardev"
  readonly major: number
  readonly minor: number
}

export interface Special extends Common {
  readonly kind: "fifo" | "socket"
}

export type Entry = Directory | File | Symlink | Device | Special

export const basename = (path: string): string => path.slice(path.lastIndexOf("/") + 1)
export const parentOf = (path: string): string => {
  const slash = path.lastIndexOf("/")
  return slash < 0 ? "" : path.slice(0, slash)
}

const encoder = new TextEncoder()
export const nameBytes = (name: string): Uint8Array => encoder.encode(name)

/** Byte-wise order of names, which is how mksquashfs sorts a directory (strcmp). */
export const compareNames = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

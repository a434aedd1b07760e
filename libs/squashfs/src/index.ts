/** @keelos/squashfs: deterministic SquashFS images for content deltas (issue #9). */
export * as Compressor from "./Compressor.ts"
export * as Layout from "./Layout.ts"
export * as ReplayingCompressor from "./ReplayingCompressor.ts"
export { SquashfsError } from "./SquashfsError.ts"
export * as SquashfsReader from "./SquashfsReader.ts"
export * as SquashfsWriter from "./SquashfsWriter.ts"
export * as Tree from "./Tree.ts"

/** @keelos/delta: delta updates (issue #9). */
export * as Bspatch from "./Bspatch.ts"
export { Bzip2Decoder, Bzip2Error } from "./Bzip2.ts"
export * as Bzip2Encoder from "./Bzip2Encoder.ts"
export * as Bsdiff from "./Bsdiff.ts"
export * as Keeldiff from "./Keeldiff.ts"
export * as Matcher from "./Matcher.ts"
export * as TreeDelta from "./TreeDelta.ts"

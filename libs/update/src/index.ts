/** @keelos/update: the update engine (issue #8, DESIGN §3 and §4). */
export * as Gates from "./Gates.ts"
export * as SlotWriter from "./SlotWriter.ts"
export * as Source from "./Source.ts"
export * as UpdateError from "./UpdateError.ts"

/** @keelos/release: signed release metadata. */
export * as Release from "./Release.ts"
export * as Signing from "./Signing.ts"
export * as Artifact from "./Artifact.ts"
export * as Publish from "./Publish.ts"

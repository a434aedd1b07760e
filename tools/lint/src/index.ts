/** The KeelOS determinism lint (see rules.ts). */
export * from "./rules.ts"

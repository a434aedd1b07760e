/** @keelos/agent: what keel-agent serves, apart from its composition (apps/agent). */
export * as Audit from "./Audit.ts"
export * as Authorization from "./Authorization.ts"
export * as Handlers from "./Handlers.ts"
export * as InitClient from "./InitClient.ts"
export * as NodeIdentity from "./NodeIdentity.ts"
export * as Server from "./Server.ts"

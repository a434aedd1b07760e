/** @keelos/boot: the bootloader's on-disk state and the decision it makes at power-on. */
export * as BootControl from "./BootControl.ts"
export * as BootDecision from "./BootDecision.ts"
export * as EnvBlock from "./EnvBlock.ts"
export * as GrubConfig from "./GrubConfig.ts"

/** Shared by the entry points that depend on work not landed yet: say what is missing, exit 1. */
export const missing = (what: string, lines: ReadonlyArray<string>): never => {
  console.error(`${what}\n${lines.map((l) => `  ${l}`).join("\n")}`)
  process.exit(1)
}

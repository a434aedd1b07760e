/**
 * `node kernel/src/check.ts [KERNEL_CONFIG]`: checks a kernel configuration against the options
 * KeelOS needs (kernel/keelos.config) and names each one that is missing or too weak. Without an
 * argument it checks the pinned Debian kernel the image build uses. Exits 1 when anything is missing.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export type Requirement = "y" | "m"

export interface Problem {
  readonly option: string
  readonly required: Requirement
  readonly found: string
}

/** `CONFIG_X=value` lines; `# CONFIG_X is not set` counts as "n". */
export const parseConfig = (text: string): ReadonlyMap<string, string> => {
  const options = new Map<string, string>()
  for (const line of text.split("\n")) {
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line)
    if (set) options.set(set[1]!, set[2]!)
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line)
    if (unset) options.set(unset[1]!, "n")
  }
  return options
}

export const check = (fragment: string, config: string): ReadonlyArray<Problem> => {
  const have = parseConfig(config)
  const problems: Array<Problem> = []
  for (const [option, required] of parseConfig(fragment)) {
    if (required !== "y" && required !== "m") throw new Error(`${option}=${required}: the fragment only knows y and m`)
    const found = have.get(option) ?? "absent"
    const ok = required === "y" ? found === "y" : found === "y" || found === "m"
    if (!ok) problems.push({ option, required, found })
  }
  return problems
}

export const fragmentPath = path.join(import.meta.dirname, "..", "keelos.config")

if (import.meta.main) {
  const configFile = process.argv[2]
  if (configFile === undefined) {
    const { pinnedKernelConfig } = await import("../../images/src/build.ts")
    process.argv[2] = pinnedKernelConfig()
  }
  const file = process.argv[2]!
  const problems = check(fs.readFileSync(fragmentPath, "utf8"), fs.readFileSync(file, "utf8"))
  for (const p of problems) {
    console.error(`${p.option}: needs ${p.required === "y" ? "=y (built in)" : "=m or =y"}, ${file} has ${p.found}`)
  }
  console.log(problems.length === 0 ? `${path.basename(file)}: every option KeelOS needs is there` : `${problems.length} option(s) missing`)
  if (problems.length > 0) process.exitCode = 1
}

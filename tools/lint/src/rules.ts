/**
 * The determinism rules of KeelOS (DESIGN §5).
 *
 * Production code in `apps/` and `libs/` must get time, timers and randomness from Effect's
 * `Clock` and `Random`, and all I/O from `libs/platform` services, so the simulator can drive it
 * deterministically. Only `libs/platform-node` (the real layers) may touch `node:*` I/O modules,
 * native bindings or the wall clock. Tests and host tooling (images/, vm-tests/, scripts/) are
 * outside the rule: they run on the build host, never on a node.
 */
import { parse } from "@babel/parser"

export interface Violation {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly rule: string
  readonly message: string
}

/** `node:*` modules that compute without touching the outside world. */
const pureNodeModules = new Set(["buffer", "crypto", "path", "string_decoder", "util", "zlib"])

/** Packages that are real-platform bindings and belong in libs/platform-node only. */
const platformPackages = new Set(["koffi", "@effect/platform-node", "@effect/platform-node-shared"])

/** Functions that read entropy, wherever they are reached from. */
const randomFunctions = new Set(["randomBytes", "randomUUID", "randomInt", "getRandomValues", "randomFill", "randomFillSync"])

const timerFunctions = new Set(["setTimeout", "setInterval", "setImmediate"])

type Node = { readonly type: string; readonly loc?: { start: { line: number; column: number } } } & Record<string, unknown>

const isNode = (value: unknown): value is Node =>
  typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string"

const walk = (node: Node, visit: (node: Node) => void): void => {
  visit(node)
  for (const key of Object.keys(node)) {
    if (key === "loc" || key === "start" || key === "end" || key === "extra") continue
    const child = node[key]
    if (Array.isArray(child)) {
      for (const item of child) if (isNode(item)) walk(item, visit)
    } else if (isNode(child)) {
      walk(child, visit)
    }
  }
}

const identifierName = (node: unknown): string | undefined => {
  if (!isNode(node)) return undefined
  if (node.type === "Identifier") return node["name"] as string
  if (node.type === "StringLiteral") return node["value"] as string
  return undefined
}

/** `a.b` or `a["b"]` as ["a", "b"]; `globalThis.a.b` as ["a", "b"]. */
const memberPath = (node: Node): ReadonlyArray<string> | undefined => {
  if (node.type === "Identifier") return [node["name"] as string]
  if (node.type !== "MemberExpression" && node.type !== "OptionalMemberExpression") return undefined
  const object = memberPath(node["object"] as Node)
  const property = identifierName(node["property"])
  if (object === undefined || property === undefined) return undefined
  const path = [...object, property]
  return path[0] === "globalThis" || path[0] === "window" ? path.slice(1) : path
}

const moduleViolation = (specifier: string): string | undefined => {
  if (specifier.startsWith("node:")) {
    const name = specifier.slice(5).split("/")[0] ?? ""
    return pureNodeModules.has(name) ? undefined : `import of "${specifier}" (node I/O)`
  }
  const pkg = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0] ?? ""
  return platformPackages.has(pkg) ? `import of "${specifier}" (real platform binding)` : undefined
}

/** Checks one TypeScript source text; `file` is only used in the report. */
export const checkSource = (file: string, source: string): ReadonlyArray<Violation> => {
  const ast = parse(source, { sourceType: "module", plugins: ["typescript"], errorRecovery: false }) as unknown as Node
  const found: Array<Violation> = []
  const report = (node: Node, rule: string, message: string) =>
    found.push({
      file,
      line: node.loc?.start.line ?? 0,
      column: (node.loc?.start.column ?? 0) + 1,
      rule,
      message
    })

  walk(ast, (node) => {
    switch (node.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration": {
        const source = node["source"]
        const specifier = isNode(source) ? (source["value"] as string) : undefined
        if (specifier === undefined) return
        const problem = moduleViolation(specifier)
        if (problem) report(node, "no-platform-import", `${problem}: only libs/platform-node may do this`)
        return
      }
      case "CallExpression":
      case "OptionalCallExpression": {
        const callee = node["callee"] as Node
        if (callee.type === "Import" || (callee.type === "Identifier" && callee["name"] === "require")) {
          const first = (node["arguments"] as Array<Node>)[0]
          const specifier = first?.type === "StringLiteral" ? (first["value"] as string) : undefined
          const problem = specifier === undefined ? undefined : moduleViolation(specifier)
          if (problem) report(node, "no-platform-import", `${problem}: only libs/platform-node may do this`)
          return
        }
        const path = memberPath(callee)
        if (path === undefined) return
        const joined = path.join(".")
        const last = path[path.length - 1] ?? ""
        if (joined === "Date.now" || joined === "Date") {
          report(node, "no-wall-clock", `${joined}() reads the wall clock: use Clock`)
        } else if (joined === "performance.now" || joined === "process.hrtime" || joined === "process.hrtime.bigint") {
          report(node, "no-wall-clock", `${joined}() reads a real clock: use Clock`)
        } else if (path.length === 1 && timerFunctions.has(last)) {
          report(node, "no-timers", `${last}() is a real timer: use Effect.sleep or Schedule`)
        } else if (joined === "Math.random" || randomFunctions.has(last)) {
          report(node, "no-randomness", `${joined}() is unseeded randomness: use Random`)
        }
        return
      }
      case "NewExpression": {
        const callee = node["callee"] as Node
        const args = node["arguments"] as Array<Node>
        if (callee.type === "Identifier" && callee["name"] === "Date" && args.length === 0) {
          report(node, "no-wall-clock", "new Date() reads the wall clock: use Clock or DateTime")
        }
        return
      }
      default:
        return
    }
  })
  return found
}

/**
 * Whether a repository-relative path is production code under the rule: `apps/**` and `libs/**`
 * sources, except `libs/platform-node` and tests.
 */
export const isGoverned = (relativePath: string): boolean => {
  const path = relativePath.split("\\").join("/")
  if (!/\.(c|m)?tsx?$/.test(path) || path.endsWith(".d.ts")) return false
  if (!(path.startsWith("apps/") || path.startsWith("libs/"))) return false
  if (path.startsWith("libs/platform-node/")) return false
  if (/\.test\.tsx?$/.test(path) || path.includes("/test/") || path.includes("/node_modules/")) return false
  if (path.includes("/dist/")) return false
  return true
}

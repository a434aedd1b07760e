/**
 * Kernel module dependency resolution from `modules.dep` (what modprobe does, without modprobe):
 * the order in which a module and everything it needs must be loaded.
 */

/** Module name as the kernel knows it: file name without `.ko[.xz|.zst|.gz]`, dashes as underscores. */
export const moduleName = (file: string): string =>
  (file.split("/").pop() ?? file).replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_")

export interface ModuleIndex {
  /** Module name to its path relative to the modules directory. */
  readonly paths: ReadonlyMap<string, string>
  /** Module name to the names it depends on, as modules.dep lists them. */
  readonly dependencies: ReadonlyMap<string, ReadonlyArray<string>>
}

export const parse = (text: string): ModuleIndex => {
  const paths = new Map<string, string>()
  const dependencies = new Map<string, ReadonlyArray<string>>()
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":")
    if (colon <= 0) continue
    const file = line.slice(0, colon).trim()
    const name = moduleName(file)
    paths.set(name, file)
    dependencies.set(name, line.slice(colon + 1).trim().split(/\s+/).filter((d) => d.length > 0).map(moduleName))
  }
  return { paths, dependencies }
}

/**
 * The modules to load for `name`, dependencies first, each once. Undefined when `name` or one of
 * its dependencies is not in the index.
 */
export const loadOrder = (index: ModuleIndex, name: string): ReadonlyArray<string> | undefined => {
  const order: Array<string> = []
  const visiting = new Set<string>()
  const visit = (module: string): boolean => {
    if (order.includes(module)) return true
    if (visiting.has(module)) return true // a cycle in modules.dep: load what we have
    if (!index.paths.has(module)) return false
    visiting.add(module)
    for (const dep of index.dependencies.get(module) ?? []) if (!visit(dep)) return false
    order.push(module)
    return true
  }
  return visit(moduleName(name)) ? order : undefined
}

/**
 * Checks a supervision tree before anything starts: names unique across the tree, dependencies
 * only on siblings that exist, and no dependency cycles.
 */
import type { ServiceSpec } from "@keelos/domain"
import { InvalidTree } from "./SupervisorError.ts"

export const validate = (root: ServiceSpec.GroupSpec): InvalidTree | undefined => {
  const seen = new Set<string>()
  const visit = (group: ServiceSpec.GroupSpec): string | undefined => {
    if (seen.has(group.name)) return `name ${group.name} is used twice`
    seen.add(group.name)
    const siblings = new Map(group.children.map((c) => [c.name as string, c]))
    for (const child of group.children) {
      if (child.kind === "group") {
        const problem = visit(child)
        if (problem) return problem
      } else {
        if (seen.has(child.name)) return `name ${child.name} is used twice`
        seen.add(child.name)
      }
      for (const dep of child.dependsOn) {
        if (!siblings.has(dep)) return `${child.name} depends on ${dep}, which is not in group ${group.name}`
      }
    }
    const state = new Map<string, "visiting" | "done">()
    const cyclic = (name: string): boolean => {
      if (state.get(name) === "done") return false
      if (state.get(name) === "visiting") return true
      state.set(name, "visiting")
      for (const dep of siblings.get(name)?.dependsOn ?? []) if (cyclic(dep)) return true
      state.set(name, "done")
      return false
    }
    for (const name of siblings.keys()) if (cyclic(name)) return `dependencies in group ${group.name} form a cycle through ${name}`
    return undefined
  }
  const problem = visit(root)
  return problem === undefined ? undefined : new InvalidTree({ reason: problem })
}

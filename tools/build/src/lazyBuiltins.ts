/**
 * An esbuild plugin that loads chosen Node built-ins on first use instead of at start. A module that
 * imports `node:tls` only to open TLS connections makes every process that bundles it pay for tls,
 * https and crypto at start (about 5 MB resident), even keel-init, which never opens one. Each import
 * of a lazy built-in resolves to a generated module whose exports stand in for the real ones: a
 * function or class becomes a proxy that calls, constructs, reads statics and answers `instanceof`
 * through the real export, loaded by `process.getBuiltinModule` on the first such use; an object
 * becomes a proxy that forwards property reads. A primitive export (a string or number constant)
 * cannot be deferred and is left out, so a bundle that reads one fails to build (esbuild reports the
 * missing export) rather than silently seeing `undefined`.
 */
import * as module from "node:module"
import type * as esbuild from "esbuild"

const namespace = "keel-lazy-builtin"

/** The generated stand-in for one built-in: its export names come from the built-in as this Node has it. */
const standIn = (id: string): string => {
  const real = module.createRequire(import.meta.url)(id) as Record<string, unknown>
  const lines = [
    `const load = () => process.getBuiltinModule(${JSON.stringify(id)})`,
    "const lazyFunction = (name) => {",
    "  const real = () => load()[name]",
    "  const proxy = new Proxy(function() {}, {",
    "    apply: (_, self, args) => Reflect.apply(real(), self, args),",
    "    construct: (_, args, newTarget) => Reflect.construct(real(), args, newTarget === proxy ? real() : newTarget),",
    "    get: (_, key) => real()[key],",
    "    has: (_, key) => key in real()",
    "  })",
    "  return proxy",
    "}",
    "const lazyObject = (get) => new Proxy({}, {",
    "  get: (_, key) => get()[key],",
    "  has: (_, key) => key in get(),",
    "  ownKeys: () => Reflect.ownKeys(get()),",
    "  getOwnPropertyDescriptor: (_, key) => {",
    "    const descriptor = Reflect.getOwnPropertyDescriptor(get(), key)",
    "    return descriptor === undefined ? undefined : { ...descriptor, configurable: true }",
    "  }",
    "})",
    "export default lazyObject(load)"
  ]
  for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(real))) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name) || name === "default") continue
    const value = descriptor.get === undefined ? descriptor.value : undefined
    if (typeof value === "function") lines.push(`export const ${name} = lazyFunction(${JSON.stringify(name)})`)
    else if (descriptor.get !== undefined || (typeof value === "object" && value !== null)) {
      lines.push(`export const ${name} = lazyObject(() => load()[${JSON.stringify(name)}])`)
    }
  }
  return lines.join("\n") + "\n"
}

/**
 * Effect's Node HTTP client reaches node:http and node:https through `createRequire`, which the
 * bundler cannot see; this stand-in for its internal module loads node:http as it does (the CommonJS
 * exports, not the ESM namespace that would load undici) and imports node:https, so a lazy https
 * applies there too.
 */
const effectHttpInternal = /@effect[\\/]platform-node[\\/]dist[\\/]internal[\\/]http\.js$/

/** The plugin for the given built-ins (`node:tls`, ...). */
export const plugin = (ids: ReadonlyArray<string>): esbuild.Plugin => ({
  name: "keel-lazy-builtins",
  setup(build) {
    const lazy = new Set(ids)
    const filter = new RegExp(`^(${ids.map((id) => id.replace(/[/]/g, "\\/")).join("|")})$`)
    build.onResolve({ filter }, (args) => ({ path: args.path, namespace }))
    build.onLoad({ filter: /.*/, namespace }, (args) => ({ contents: standIn(args.path), loader: "js" }))
    if (lazy.has("node:https")) {
      build.onLoad({ filter: effectHttpInternal }, () => ({
        contents: "export const http = process.getBuiltinModule(\"node:http\")\nexport { default as https } from \"node:https\"\n",
        loader: "js"
      }))
    }
  }
})

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
    "const standIns = Object.create(null)"
  ]
  for (const [name, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(real))) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name) || name === "default") continue
    const value = descriptor.get === undefined ? descriptor.value : undefined
    const key = JSON.stringify(name)
    if (typeof value === "function") lines.push(`export const ${name} = standIns[${key}] = lazyFunction(${key})`)
    else if (typeof value === "object" && value !== null) lines.push(`export const ${name} = standIns[${key}] = lazyObject(() => load()[${key}])`)
    // A getter may give a primitive (http.maxHeaderSize): the default export reads it from the real module.
    else if (descriptor.get !== undefined) lines.push(`export const ${name} = lazyObject(() => load()[${key}])`)
  }
  // The default export (`import http from "node:http"`, CommonJS code's `require`) hands out the same
  // stand-ins, so reading `http.createServer` at load time does not load the built-in either; a
  // constant or a getter is read from the real module.
  lines.push(
    "export default new Proxy({}, {",
    "  get: (_, key) => key in standIns ? standIns[key] : load()[key],",
    "  has: (_, key) => key in standIns || key in load(),",
    "  ownKeys: () => Reflect.ownKeys(load()),",
    "  getOwnPropertyDescriptor: (_, key) => {",
    "    const descriptor = Reflect.getOwnPropertyDescriptor(load(), key)",
    "    return descriptor === undefined ? undefined : { ...descriptor, configurable: true }",
    "  }",
    "})"
  )
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
    // CommonJS dependencies (ws) require built-ins by their bare names ("http"): those are lazy too.
    const names = ids.map((id) => id.slice("node:".length).replace(/[/]/g, "\\/"))
    const filter = new RegExp(`^(node:)?(${names.join("|")})$`)
    build.onResolve({ filter }, (args) => ({ path: args.path.startsWith("node:") ? args.path : `node:${args.path}`, namespace }))
    build.onLoad({ filter: /.*/, namespace }, (args) => ({ contents: standIn(args.path), loader: "js" }))
    if (lazy.has("node:https")) {
      build.onLoad({ filter: effectHttpInternal }, () => ({
        contents: (lazy.has("node:http") ? "export { default as http } from \"node:http\"\n" : "export const http = process.getBuiltinModule(\"node:http\")\n") +
          "export { default as https } from \"node:https\"\n",
        loader: "js"
      }))
    }
  }
})

/**
 * `npm run bench -- NAME`: a benchmark measured against a baseline in the same run; its last line
 * is one JSON object of the figures its issue names. Benchmarks register here as they land.
 */
import { missing } from "./missing.ts"

const benchmarks: Record<string, string> = {}
const name = process.argv[2]
if (name === undefined || benchmarks[name] === undefined) {
  missing(`npm run bench: ${name === undefined ? "name a benchmark" : `no benchmark named ${JSON.stringify(name)}`}.`, [
    `available: ${Object.keys(benchmarks).join(", ") || "none yet (supervisor, boot, rpc, install, oci, delta land with their issues)"}`
  ])
}

/**
 * `npm run bench -- NAME`: a benchmark measured against a baseline in the same run; its last line
 * is one JSON object of the figures its issue names. Benchmarks register here as they land.
 */

const refuse = (what: string, detail: string): never => {
  console.error(`${what}\n  ${detail}`)
  process.exit(1)
}

const benchmarks: Record<string, string> = {
  supervisor: "./bench/supervisor.ts",
  boot: "./bench/boot.ts",
  rpc: "./bench/rpc.ts",
  install: "./bench/install.ts",
  oci: "./bench/oci.ts",
  delta: "./bench/delta.ts"
}
const name = process.argv[2]
const module = name === undefined ? undefined : benchmarks[name]
if (module === undefined) {
  refuse(
    `npm run bench: ${name === undefined ? "name a benchmark" : `no benchmark named ${JSON.stringify(name)}`}.`,
    `available: ${Object.keys(benchmarks).join(", ")}`
  )
} else {
  await import(module)
}

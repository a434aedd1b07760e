/**
 * An app's bundle as its package.json `build` script (or another, such as keel-init's `snapshot`)
 * makes it (`keel-bundle ENTRY OUTFILE [OPTIONS]`), so the image build and the benchmarks bundle
 * keel-init and keel-agent with the same options as `npm run build` does, from one place.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** keel-bundle's arguments in the app's `script` (default `build`), its paths made absolute. */
export const bundleArgs = (appDir: string, script = "build"): { readonly entry: string; readonly outfile: string; readonly options: ReadonlyArray<string> } => {
  const manifest = JSON.parse(fs.readFileSync(path.join(appDir, "package.json"), "utf8")) as { scripts?: Record<string, string> }
  const words = (manifest.scripts?.[script] ?? "").split(/\s+/).filter((word) => word !== "")
  if (words[0] !== "keel-bundle" || words.length < 3) throw new Error(`${appDir}/package.json: the ${script} script is not "keel-bundle ENTRY OUTFILE [OPTIONS]"`)
  return { entry: path.resolve(appDir, words[1]!), outfile: path.resolve(appDir, words[2]!), options: words.slice(3) }
}

/**
 * Builds a Node startup snapshot of a CommonJS bundle, reproducibly. A snapshot holds the heap after
 * the bundle's modules have run, so a service started from it (`node --snapshot-blob FILE ARGS`) skips
 * evaluating them: under TCG that is most of keel-agent's start. Node writes into the snapshot what
 * differs from one build to the next unless pinned: the process id (a PID namespace makes it 1),
 * addresses (no address-space randomisation), random and hash seeds (fixed here; Node draws new ones
 * when the snapshot starts, and rehashes), the paths of the script, the blob and Node itself (a
 * private mount namespace shows the work directory as /tmp, with Node bound at /tmp/node), and the
 * warnings about built-ins (off). Needs root, or user namespaces for `unshare --map-root-user`.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * Runs inside the namespaces: binds Node into the work directory, then the work directory (with that
 * bind) over /tmp, where Node may itself live (a checkout under /tmp), and builds.
 */
const inside = [
  "set -e",
  "touch \"$KEEL_WORK/node\"",
  "mount --bind \"$KEEL_NODE\" \"$KEEL_WORK/node\"",
  "mount --rbind \"$KEEL_WORK\" /tmp",
  "cd /tmp",
  "exec setarch -R /tmp/node --no-warnings --predictable --random-seed=1 --hash-seed=1 $KEEL_NODE_FLAGS --snapshot-blob snapshot.blob --build-snapshot entry.cjs"
].join("\n")

/**
 * The script the snapshot is built from: it compiles the bundle with every function's bytecode made
 * now (V8's --no-lazy, for the bundle alone), not on its first call. A snapshot keeps the bytecode its
 * functions have, and a service's start calls about a thousand of the bundle's functions no module
 * evaluation did: compiled lazily they were a fifth of keel-agent's start (97 of 491 million
 * instructions to serving, callgrind), compiled here the snapshot grows by 2.9 MiB and reading it
 * costs 46 million more. Node's own modules stay lazy (eager, they would add 7.4 MiB). Bytecode
 * flushing is off while building, so the GCs before the snapshot keep code nothing has run yet. The
 * bundle runs with the arguments Node gives a snapshot's main script.
 */
const eagerEntry = [
  "const v8 = require('v8')",
  "v8.setFlagsFromString('--no-flush-bytecode')",
  "v8.setFlagsFromString('--no-lazy')",
  "const source = require('fs').readFileSync(require('path').join(__dirname, 'bundle.cjs'), 'utf8').replace(/^#!.*/, '')",
  "const main = require('vm').compileFunction(source, ['require', '__filename', '__dirname'], { filename: require('path').join(__dirname, 'bundle.cjs') })",
  "v8.setFlagsFromString('--lazy')",
  "main(require, __filename, __dirname)"
].join("\n") + "\n"

/**
 * Writes the snapshot of `bundle` (CommonJS source) to `blob`; throws with Node's output when the
 * build fails. `nodeFlags`: V8 flags the program runs with (--lite-mode), so the code compiled into
 * the snapshot is what that V8 accepts.
 */
export const build = (bundle: string, blob: string, nodeFlags: ReadonlyArray<string> = []): void => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "keel-snapshot-"))
  try {
    fs.writeFileSync(path.join(work, "bundle.cjs"), bundle)
    fs.writeFileSync(path.join(work, "entry.cjs"), eagerEntry)
    const rootless = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"]
    const result = spawnSync("unshare", [...rootless, "--mount", "--pid", "--fork", "sh", "-c", inside], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", KEEL_WORK: work, KEEL_NODE: fs.realpathSync(process.execPath), KEEL_NODE_FLAGS: nodeFlags.join(" ") },
      encoding: "utf8"
    })
    const made = path.join(work, "snapshot.blob")
    if (result.status !== 0 || !fs.existsSync(made)) {
      const output = `${result.error?.message ?? ""}${result.stdout}${result.stderr}`.trim().split("\n").slice(0, 30).join("\n")
      throw new Error(`the startup snapshot did not build (exit ${result.status}):\n${output}`)
    }
    fs.mkdirSync(path.dirname(blob), { recursive: true })
    fs.copyFileSync(made, blob)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

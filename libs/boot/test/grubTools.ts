/** Runs the real GRUB tools (grub-editenv, grub-emu, mtools) for the cross-checks. */
import { execFileSync, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const requireTool = (tool: string, pkg: string) => {
  const found = spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0
  if (!found) throw new Error(`${tool} is not installed: apt-get install ${pkg} (.ci/run installs it)`)
}

export const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** `grub-editenv FILE ARGS...`; returns false when grub-editenv refused (exit 1). */
export const editenv = (file: string, ...args: Array<string>): boolean => {
  const result = spawnSync("grub-editenv", [file, ...args], { encoding: "utf8" })
  if (result.status === 0) return true
  if (result.stderr.includes("environment block too small")) return false
  throw new Error(`grub-editenv ${args.join(" ")} failed: ${result.stderr}`)
}

export const run = (command: string, args: ReadonlyArray<string>, input?: string) =>
  execFileSync(command, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 120_000 })

/**
 * Runs grub-emu on a pseudo-terminal (it needs one) with `commands` typed at its prompt. Stdin stays
 * open until grub-emu exits (the script ends with `reboot`): closing it early cuts the run short.
 */
export const grubEmu = (modules: string, deviceMap: string, commands: string, timeoutMs = 120_000): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn("script", ["-qec", `grub-emu -d ${modules} -m ${deviceMap} -r hd0`, "/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`grub-emu did not finish in ${timeoutMs} ms:\n${output.slice(-2000)}`))
    }, timeoutMs)
    child.on("error", reject)
    child.on("exit", () => {
      clearTimeout(timer)
      child.stdin.destroy()
      resolve(output)
    })
    child.stdin.write(commands)
  })

/** Hooks against real processes and a real HTTP server on the host. */
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Layer } from "effect"
import * as NodeHttp from "@keelos/platform-node/NodeHttp"
import { NodeServices } from "@keelos/platform-node/NodeMain"
import { Hooks } from "../src/index.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-hooks-"))
const received: Array<{ url: string; body: unknown }> = []
let server: http.Server
let port = 0

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = ""
    req.on("data", (d: Buffer) => (body += d))
    req.on("end", () => {
      received.push({ url: req.url ?? "", body: JSON.parse(body) })
      if (req.url === "/slow") return void setTimeout(() => res.end(), 2_000)
      res.writeHead(req.url === "/deny" ? 409 : 204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  port = (server.address() as { port: number }).port
})
afterAll(() => server.close())

const event: Hooks.Event = { event: "pre-update", fromVersion: "0.1.0", toVersion: "0.2.0", outcome: null, source: "http://x/latest.json", actor: "alice", atMillis: 1 }

const run = (config: Hooks.HooksConfig) =>
  Effect.runPromiseExit(Effect.flatMap(Hooks.make(config), (runner) => runner(event)).pipe(Effect.provide(Layer.merge(NodeServices.layer, NodeHttp.layer))))

const script = (name: string, body: string) => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 })
  return file
}

describe("update hooks", () => {
  it("POSTs the event to webhooks and runs executables in name order with the event, no shell", async () => {
    const hooks = path.join(dir, "ok.d")
    fs.mkdirSync(hooks)
    fs.writeFileSync(path.join(hooks, "20-second"), `#!/bin/sh\necho "second $1" >> ${dir}/order\n`, { mode: 0o755 })
    fs.writeFileSync(path.join(hooks, "10-first"), `#!/bin/sh\necho "first $1 $KEEL_UPDATE_EVENT" >> ${dir}/order\n`, { mode: 0o755 })
    const exit = await run({ webhooks: [{ url: `http://127.0.0.1:${port}/ok`, timeoutMillis: 1_000 }], dir: hooks, timeoutMillis: 5_000 })
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(received.at(-1)).toEqual({ url: "/ok", body: event })
    const lines = fs.readFileSync(path.join(dir, "order"), "utf8").trim().split("\n")
    expect(lines[0]).toBe(`first pre-update ${JSON.stringify(event)}`)
    expect(lines[1]).toBe("second pre-update")
  })

  it.each([
    ["a webhook answering 409", { url: "/deny" }, /webhook http:\/\/127\.0\.0\.1:\d+\/deny answered HTTP 409/],
    ["a webhook that does not answer in time", { url: "/slow" }, /webhook .*\/slow: no answer within 300 ms/]
  ])("fails on %s", async (_, hook, message) => {
    const exit = await run({ webhooks: [{ url: `http://127.0.0.1:${port}${hook.url}`, timeoutMillis: 300 }], dir: path.join(dir, "none"), timeoutMillis: 1_000 })
    expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(message)
  })

  it("fails on an executable that exits non-zero (with its last line) or runs too long", async () => {
    const failing = path.join(dir, "fail.d")
    fs.mkdirSync(failing)
    fs.copyFileSync(script("drain", "echo draining; echo 'node busy' >&2; exit 3"), path.join(failing, "drain"))
    fs.chmodSync(path.join(failing, "drain"), 0o755)
    const exit = await run({ webhooks: [], dir: failing, timeoutMillis: 5_000 })
    expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(/hook .*fail\.d\/drain exited with 3: node busy/)
    const slow = path.join(dir, "slow.d")
    fs.mkdirSync(slow)
    fs.writeFileSync(path.join(slow, "sleep"), "#!/bin/sh\nexec sleep 30\n", { mode: 0o755 })
    const started = performance.now()
    const timedOut = await run({ webhooks: [], dir: slow, timeoutMillis: 300 })
    expect(Exit.isFailure(timedOut) && String(timedOut.cause)).toMatch(/still running after 300 ms; stopped/)
    expect(performance.now() - started).toBeLessThan(5_000)
  })
})

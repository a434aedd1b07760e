/**
 * The floor under `osctl status` for `npm run bench -- rpc`: the same GetStatus call (one mutual TLS
 * connection, the RPC request as osctl sends it, the whole answer read) written with node:https alone,
 * in CommonJS, with no Effect, no CLI and no config parsing. Whatever osctl costs above this is its
 * own; what this costs above `node -e 0` (loading tls/https, the handshake) no Node client avoids.
 * Usage: node mtls-call.cjs OSCTLCONFIG_FILE (the current context's first node).
 */
"use strict"
const fs = require("node:fs")
const https = require("node:https")

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"))
const context = config.contexts[config.currentContext]
const [host, port] = context.nodes[0].split(":")
const body = JSON.stringify({ _tag: "Request", id: 0, tag: "GetStatus", payload: null, headers: [] }) + "\n"
const request = https.request({
  host,
  port: Number(port),
  path: "/rpc",
  method: "POST",
  ca: context.ca,
  cert: context.cert,
  key: context.key,
  minVersion: "TLSv1.3",
  headers: { "content-type": "application/x-ndjson", "content-length": Buffer.byteLength(body) }
}, (response) => {
  let answer = ""
  response.setEncoding("utf8")
  response.on("data", (chunk) => (answer += chunk))
  response.on("end", () => {
    if (response.statusCode !== 200 || !answer.includes("\"Success\"")) {
      process.stderr.write(`mtls-call: ${response.statusCode} ${answer.slice(0, 200)}\n`)
      process.exitCode = 1
    }
  })
})
request.on("error", (error) => {
  process.stderr.write(`mtls-call: ${error.message}\n`)
  process.exitCode = 1
})
request.end(body)

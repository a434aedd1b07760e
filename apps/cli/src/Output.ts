/** How osctl prints: a human table or line, or one document for scripts (`-o json`, `-o yaml`). */
import { Console } from "effect"

export type Format = "text" | "json" | "yaml"

const plainKey = /^[A-Za-z_][A-Za-z0-9_.-]*$/
const plainScalar = /^[A-Za-z0-9_./@+-][A-Za-z0-9 _./@+,()-]*$/
const reserved = /^(true|false|null|yes|no|on|off|~|-?[0-9][0-9._eE+-]*)$/i

const scalar = (value: unknown): string => {
  if (value === null || value === undefined) return "null"
  if (typeof value === "number" || typeof value === "boolean") return String(value)
  const text = String(value)
  return plainScalar.test(text) && !reserved.test(text) && !text.endsWith(" ") ? text : JSON.stringify(text)
}

const isEmptyCollection = (value: unknown) =>
  (Array.isArray(value) && value.length === 0) || (typeof value === "object" && value !== null && Object.keys(value).length === 0)

/** YAML for plain data (objects, arrays, scalars): block style, strings quoted when they need it. */
export const toYaml = (value: unknown, indent = ""): string => {
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]"
    return value.map((item) => {
      if (typeof item === "object" && item !== null && !isEmptyCollection(item)) {
        const body = toYaml(item, `${indent}  `)
        return `${indent}- ${body.slice(indent.length + 2)}`
      }
      return `${indent}- ${typeof item === "object" && item !== null ? (Array.isArray(item) ? "[]" : "{}") : scalar(item)}`
    }).join("\n")
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
    if (entries.length === 0) return "{}"
    return entries.map(([key, item]) => {
      const name = plainKey.test(key) ? key : JSON.stringify(key)
      if (typeof item === "object" && item !== null && !isEmptyCollection(item)) return `${indent}${name}:\n${toYaml(item, `${indent}  `)}`
      return `${indent}${name}: ${typeof item === "object" && item !== null ? (Array.isArray(item) ? "[]" : "{}") : scalar(item)}`
    }).join("\n")
  }
  return `${indent}${scalar(value)}`
}

export const render = (format: Format, value: unknown, text: () => string): string =>
  format === "json" ? JSON.stringify(value, null, 2) : format === "yaml" ? toYaml(value) : text()

export const print = (format: Format, value: unknown, text: () => string) => Console.log(render(format, value, text))

/** Columns padded to their widest cell. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
  return [line(header), ...rows.map(line)].join("\n")
}

/** An instant to the minute, in UTC: `2026-11-30T12:00Z`; "-" for none. */
export const minuteUtc = (millis: number | null) => (millis === null ? "-" : new Date(millis).toISOString().replace(/:\d\d\.\d{3}Z$/, "Z"))

/**
 * Reads a `WWW-Authenticate` challenge (RFC 7235): the scheme and its parameters. Bearer
 * challenges of registries quote values that contain commas (`scope="repository:a:pull,push"`),
 * so a plain split is wrong.
 */

export interface Challenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
}

export const parse = (header: string): Challenge | null => {
  const match = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/s.exec(header)
  if (match === null) return null
  const params: Record<string, string> = {}
  const pairs = /([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy
  const rest = match[2] ?? ""
  for (let found = pairs.exec(rest); found !== null; found = pairs.exec(rest)) {
    params[found[1]!.toLowerCase()] = found[2] === undefined ? found[3] ?? "" : found[2].replace(/\\(.)/g, "$1")
  }
  return { scheme: match[1]!.toLowerCase(), params }
}

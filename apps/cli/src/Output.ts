/** How osctl prints: a human table or line, or one JSON document for scripts (`-o json`). */
import { Console, Effect } from "effect"

export type Format = "text" | "json"

export const print = (format: Format, value: unknown, text: () => string) =>
  Console.log(format === "json" ? JSON.stringify(value, null, 2) : text())

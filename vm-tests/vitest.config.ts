import { defineProject } from "vitest/config"
export default defineProject({ test: { include: ["test/**/*.test.ts"], testTimeout: 300_000, hookTimeout: 600_000, fileParallelism: false } })

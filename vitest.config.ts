import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    conditions: ["ssm-session-manager-source"]
  },
  ssr: {
    resolve: {
      conditions: ["ssm-session-manager-source"],
      externalConditions: ["ssm-session-manager-source"]
    }
  },
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})

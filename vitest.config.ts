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
    // the release tests run alone: npm run test:release (vitest.release.config.ts)
    exclude: ["test/Release*.test.ts", "**/node_modules/**"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})

import { defineConfig } from "vitest/config"

/**
 * The release tests alone (`npm run test:release`): the package built, packed and installed, its bins run on
 * each Node of SSM_RELEASE_NODES (see test/Release.test.ts). The main configuration (vitest.config.ts) leaves
 * them out.
 */
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
    include: ["test/Release.test.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 120_000,
    // the build, npm pack and npm install
    hookTimeout: 600_000
  }
})

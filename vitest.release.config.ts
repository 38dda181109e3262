import { defineConfig } from "vitest/config"
import main from "./vitest.config.js"

/**
 * The release tests alone (`npm run test:release`): the package built, packed and installed, its bins run on
 * each Node of SSM_RELEASE_NODES (see test/Release.test.ts and test/ReleaseEcs.test.ts). The main configuration (vitest.config.ts) leaves
 * them out; this one is the main one with only them.
 */
export default defineConfig({
  ...main,
  test: {
    ...main.test,
    include: ["test/Release*.test.ts"],
    // one build, pack and install for every release file
    globalSetup: ["./test/release/globalSetup.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 120_000,
    // the build, npm pack and npm install
    hookTimeout: 600_000
  }
})

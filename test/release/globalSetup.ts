/**
 * The release tests' one build, pack and install, shared by every release test file (`inject("installed")`), and
 * removed once they have all run.
 */
import type { TestProject } from "vitest/node"
import { packAndInstall } from "./install.js"

declare module "vitest" {
  export interface ProvidedContext {
    installed: {
      readonly project: string
      readonly tarball: string
      readonly bin: string
      readonly version: string
      readonly scratch: string
    }
  }
}

export default function setup(project: TestProject) {
  const installed = packAndInstall()
  const { remove, ...shared } = installed
  project.provide("installed", shared)
  return () => remove()
}

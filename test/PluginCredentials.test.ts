/**
 * The drop-in plugin takes credentials as the AWS CLI took them for the StartSession it made: environment keys
 * first unless `--profile` named a profile (the CLI passes the profile's name either way).
 */
import { assert, describe, it } from "@effect/vitest"
import { credentialsFor } from "../src/cli/plugin.js"

const keys = { AWS_ACCESS_KEY_ID: "AKIDENV", AWS_SECRET_ACCESS_KEY: "secret" }

describe("session-manager-plugin: where credentials come from", () => {
  it("the CLI's own default profile with keys in the environment: the keys, as the CLI used them", () => {
    const credentials = credentialsFor("default", keys)
    assert.deepStrictEqual(credentials, { _tag: "Environment", accessKeyId: "AKIDENV", secretAccessKey: "secret" })
  })

  it("AWS_PROFILE's profile with keys in the environment: still the keys (the CLI puts the environment first)", () => {
    const credentials = credentialsFor("dev", { ...keys, AWS_PROFILE: "dev", AWS_SESSION_TOKEN: "token" })
    assert.deepStrictEqual(credentials, {
      _tag: "Environment",
      accessKeyId: "AKIDENV",
      secretAccessKey: "secret",
      sessionToken: "token"
    })
  })

  it("a profile named with --profile: that profile, even with keys in the environment", () => {
    assert.deepStrictEqual(credentialsFor("prod", keys), { _tag: "Profile", profile: "prod" })
  })

  it("no keys in the environment: the profile the CLI named, or the SDK's own chain when none", () => {
    assert.deepStrictEqual(credentialsFor("default", {}), { _tag: "Profile", profile: "default" })
    assert.deepStrictEqual(credentialsFor("", {}), { _tag: "Profile", profile: undefined })
  })
})

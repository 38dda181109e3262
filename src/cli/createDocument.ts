/**
 * `create-document`: creates the Session document `exec` runs (`RemoteCommand.DOCUMENT_NAME`, from
 * `RemoteCommand.DOCUMENT_CONTENT`) in the account and region, once; running it again changes nothing.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RemoteCommand from "../RemoteCommand.js"
import { awsOptions } from "./aws.js"
import { CliError } from "./error.js"

const nameOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "name" in error ? String(error.name) : ""

/** CreateDocument's failure: denied (by the SDK exception's name), or any other. */
const documentError = (cause: unknown): CliError => {
  const denied = /AccessDenied/.test(nameOf(cause))
  const message = cause instanceof Error ? cause.message : String(cause)
  return new CliError({
    reason: denied ? "DocumentDenied" : "DocumentFailed",
    detail: `CreateDocument: ${denied ? "AccessDenied" : "Other"}: ${message}`,
    cause
  })
}

/**
 * Creates the document; `Exists` when the account has one of that name already (its content is left as it is).
 * A failure is `DocumentDenied` (the SDK's AccessDenied) or `DocumentFailed`, said as
 * `CreateDocument: AccessDenied: …` or `CreateDocument: Other: …`.
 *
 * @since 0.2.0
 * @category documents
 */
export const createDocument = (options: {
  readonly name: string
  readonly region?: string | undefined
  readonly profile?: string | undefined
  readonly endpoint?: string | undefined
}): Effect.Effect<"Created" | "Exists", CliError> =>
  Effect.gen(function*() {
    const { CreateDocumentCommand, SSMClient } = yield* Effect.promise(() => import("@aws-sdk/client-ssm"))
    const client = new SSMClient({
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint })
    })
    return yield* Effect.tryPromise({
      try: (abortSignal) =>
        client.send(
          new CreateDocumentCommand({
            Name: options.name,
            DocumentType: "Session",
            DocumentFormat: "JSON",
            Content: JSON.stringify(RemoteCommand.DOCUMENT_CONTENT)
          }),
          { abortSignal }
        ),
      catch: (cause) => cause
    }).pipe(
      Effect.as("Created" as const),
      Effect.catchAll((cause) =>
        nameOf(cause) === "DocumentAlreadyExists"
          ? Effect.succeed("Exists" as const)
          : Effect.fail(documentError(cause))
      ),
      Effect.ensuring(Effect.sync(() => client.destroy()))
    )
  })

/**
 * @since 0.2.0
 * @category commands
 */
export const createDocumentCommand = Command.make(
  "create-document",
  {
    region: awsOptions.region,
    profile: awsOptions.profile,
    endpoint: awsOptions.endpoint,
    name: Options.text("name").pipe(
      Options.withDescription("the document's name (what exec --document names)"),
      Options.withDefault(RemoteCommand.DOCUMENT_NAME)
    )
  },
  (options) =>
    Effect.gen(function*() {
      const result = yield* createDocument({
        name: options.name,
        region: Option.getOrUndefined(options.region),
        profile: Option.getOrUndefined(options.profile),
        endpoint: Option.getOrUndefined(options.endpoint)
      })
      yield* Console.log(
        result === "Created"
          ? `created the Session document ${options.name}: exec can run commands now`
          : `the Session document ${options.name} exists already (left as it is)`
      )
    })
).pipe(Command.withDescription(
  `create the Session document exec runs (${RemoteCommand.DOCUMENT_NAME}), once per account and region`
))

/**
 * `create-document`: creates the Session documents `exec` runs (`RemoteCommand.DOCUMENT_NAME`, from
 * `RemoteCommand.DOCUMENT_CONTENT`) and `exec -i` runs (`RemoteCommand.INTERACTIVE_DOCUMENT_NAME`, from
 * `RemoteCommand.INTERACTIVE_DOCUMENT_CONTENT`) in the account and region, once; running it again changes nothing.
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
 * Creates the document (`content`, default `RemoteCommand.DOCUMENT_CONTENT`); `Exists` when the account has one of that name already (its content is left as it is).
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
  readonly content?: unknown
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
            Content: JSON.stringify(options.content ?? RemoteCommand.DOCUMENT_CONTENT)
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
      Options.withDescription("the name of exec's document (what exec --document names)"),
      Options.withDefault(RemoteCommand.DOCUMENT_NAME)
    ),
    interactiveName: Options.text("interactive-name").pipe(
      Options.withDescription("the name of exec -i's document (what exec -i --document names)"),
      Options.withDefault(RemoteCommand.INTERACTIVE_DOCUMENT_NAME)
    )
  },
  (options) =>
    Effect.gen(function*() {
      const documents = [
        { name: options.name, content: RemoteCommand.DOCUMENT_CONTENT, what: "exec can run commands now" },
        {
          name: options.interactiveName,
          content: RemoteCommand.INTERACTIVE_DOCUMENT_CONTENT,
          what: "exec -i can run commands with input now"
        }
      ]
      for (const document of documents) {
        const result = yield* createDocument({
          name: document.name,
          content: document.content,
          region: Option.getOrUndefined(options.region),
          profile: Option.getOrUndefined(options.profile),
          endpoint: Option.getOrUndefined(options.endpoint)
        })
        yield* Console.log(
          result === "Created"
            ? `created the Session document ${document.name}: ${document.what}`
            : `the Session document ${document.name} exists already (left as it is)`
        )
      }
    })
).pipe(Command.withDescription(
  `create the Session documents exec runs (${RemoteCommand.DOCUMENT_NAME}) and exec -i runs ` +
    `(${RemoteCommand.INTERACTIVE_DOCUMENT_NAME}), once per account and region`
))

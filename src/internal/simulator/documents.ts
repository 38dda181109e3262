/**
 * The Session documents the simulator plays (`port.documentSpec`), with the parameters their published content
 * declares: the service refuses a StartSession naming another document (InvalidDocument), a parameter the
 * document does not declare, or none for one it requires (InvalidParameters). `simulate` checks its flags
 * against the same table, and the simulated HTTP API checks StartSession requests against it.
 *
 * @internal
 */
import * as FramedCommand from "../tunnels/framedCommand.js"
import { DOCUMENT_CONTENT, DOCUMENT_NAME } from "../tunnels/remoteCommand.js"

/** @internal */
export const sessionTypes = ["Port", "Standard_Stream", "InteractiveCommands", "NonInteractiveCommands"] as const

/** @internal */
export type SessionType = typeof sessionTypes[number]

/** @internal */
export interface DocumentInfo {
  readonly sessionType: SessionType
  readonly parameters: ReadonlyArray<string>
  readonly required: ReadonlyArray<string>
}

/** @internal */
export const documents: Readonly<Record<string, DocumentInfo>> = {
  "AWS-StartPortForwardingSession": { sessionType: "Port", parameters: ["portNumber", "localPortNumber"], required: [] },
  "AWS-StartPortForwardingSessionToRemoteHost": {
    sessionType: "Port",
    parameters: ["host", "portNumber", "localPortNumber"],
    required: ["host"]
  },
  "AWS-StartSSHSession": { sessionType: "Port", parameters: ["portNumber"], required: [] },
  "AWS-StartInteractiveCommand": { sessionType: "InteractiveCommands", parameters: ["command"], required: ["command"] },
  "AWS-StartNonInteractiveCommand": {
    sessionType: "NonInteractiveCommands",
    parameters: ["command"],
    required: ["command"]
  },
  [DOCUMENT_NAME]: {
    sessionType: "NonInteractiveCommands",
    parameters: Object.keys(DOCUMENT_CONTENT.parameters),
    required: Object.keys(DOCUMENT_CONTENT.parameters)
  },
  [FramedCommand.DOCUMENT_NAME]: {
    sessionType: "InteractiveCommands",
    parameters: Object.keys(FramedCommand.DOCUMENT_CONTENT.parameters),
    required: Object.keys(FramedCommand.DOCUMENT_CONTENT.parameters)
  },
  "SSM-SessionManagerRunShell": { sessionType: "Standard_Stream", parameters: [], required: [] }
}

/** No DocumentName: the account's default shell. @internal */
export const defaultShell: DocumentInfo = { sessionType: "Standard_Stream", parameters: [], required: [] }

/** @internal */
export const documentNames: ReadonlyArray<string> = Object.keys(documents)

/** As the documents' allowedPattern: 1 to 65535 for a destination, 0 (any) to 65535 for a local port. @internal */
export const portParameters: Readonly<Record<string, number>> = { portNumber: 1, localPortNumber: 0 }

/** What is wrong with a StartSession request's document or parameters. @internal */
export type RequestProblem =
  | { readonly _tag: "UnknownDocument"; readonly document: string }
  | { readonly _tag: "UnknownParameter"; readonly document: string | undefined; readonly key: string; readonly known: ReadonlyArray<string> }
  | { readonly _tag: "MissingParameter"; readonly document: string | undefined; readonly key: string }
  | { readonly _tag: "InvalidPort"; readonly key: string; readonly minimum: number; readonly value: string }

/**
 * The service's checks of a StartSession request: the document is one the simulator plays, its parameters are
 * the document's, the required ones are there, and port numbers are port numbers. Undefined when it passes.
 * @internal
 */
export const checkRequest = (
  documentName: string | undefined,
  parameters: Readonly<Record<string, ReadonlyArray<string>>>
): RequestProblem | undefined => {
  const info = documentName === undefined ? defaultShell : documents[documentName]
  if (info === undefined) return { _tag: "UnknownDocument", document: documentName! }
  for (const key of Object.keys(parameters)) {
    if (!info.parameters.includes(key)) return { _tag: "UnknownParameter", document: documentName, key, known: info.parameters }
  }
  for (const key of info.required) {
    if (!(key in parameters)) return { _tag: "MissingParameter", document: documentName, key }
  }
  for (const [key, minimum] of Object.entries(portParameters)) {
    const value = parameters[key]?.[0]
    if (value !== undefined && !(/^\d{1,5}$/.test(value) && Number(value) >= minimum && Number(value) <= 65535)) {
      return { _tag: "InvalidPort", key, minimum, value }
    }
  }
  return undefined
}

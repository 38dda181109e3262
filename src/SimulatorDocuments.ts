/**
 * The Session documents the `AgentSimulator` plays, as its StartSession checks them: the session type each starts,
 * the parameters its published content declares, and the ones it requires. The simulated service refuses a
 * StartSession naming another document (InvalidDocument), a parameter the document does not declare, or none for
 * one it requires (InvalidParameters). The `simulate` command checks its flags against the same table.
 *
 * @since 0.3.0
 */
import type * as AgentPayload from "./AgentPayload.js"
import * as internal from "./internal/simulator/documents.js"

/**
 * A Session document the simulator plays.
 *
 * @since 0.3.0
 * @category models
 */
export interface DocumentInfo {
  readonly sessionType: AgentPayload.SessionType
  readonly parameters: ReadonlyArray<string>
  readonly required: ReadonlyArray<string>
}

/**
 * The documents the simulator plays, by name (`AgentSimulator.documentSpec` starts them; its HTTP API refuses any
 * other).
 *
 * @since 0.3.0
 * @category documents
 */
export const documents: Readonly<Record<string, DocumentInfo>> = internal.documents

/**
 * Their names.
 *
 * @since 0.3.0
 * @category documents
 */
export const documentNames: ReadonlyArray<string> = internal.documentNames

/**
 * No DocumentName: the account's default shell.
 *
 * @since 0.3.0
 * @category documents
 */
export const defaultShell: DocumentInfo = internal.defaultShell

/**
 * The port parameters and the least each may be, as the documents' allowedPattern: 1 for a destination
 * (`portNumber`), 0 (any free port) for a local port (`localPortNumber`).
 *
 * @since 0.3.0
 * @category documents
 */
export const portParameters: Readonly<Record<string, number>> = internal.portParameters

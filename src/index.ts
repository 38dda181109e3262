/**
 * @since 0.1.0
 */

/**
 * The binary agent message: model, Schema codec and synchronous encode/decode.
 *
 * @since 0.1.0
 */
export * as AgentMessage from "./AgentMessage.js"

/**
 * The JSON, text and flag payloads carried inside agent messages.
 *
 * @since 0.1.0
 */
export * as AgentPayload from "./AgentPayload.js"

/**
 * smux v1 over any byte transport, wire-compatible with xtaci/smux, as a service yielding scoped streams.
 *
 * @since 0.1.0
 */
export * as Smux from "./Smux.js"

/**
 * The data channel as a scoped, reliable Session over a WebSocket.
 *
 * @since 0.1.0
 */
export * as Session from "./Session.js"

/**
 * StartSession, ResumeSession and TerminateSession over `@aws-sdk/client-ssm`, with typed errors.
 *
 * @since 0.1.0
 */
export * as SsmApi from "./SsmApi.js"

/**
 * Port forwarding: in-process connections, local listeners (NodePortForwarding) and the whole tunnel from StartSession.
 *
 * @since 0.1.0
 */
export * as PortForwarding from "./PortForwarding.js"

/**
 * Several port-forwarding sessions to one destination as one tunnel: past the per-session rate cap, replaced when
 * one ends.
 *
 * @since 0.2.0
 */
export * as PortForwardingPool from "./PortForwardingPool.js"

/**
 * Interactive shells: input as a Sink, output as a Stream, terminal size and signals.
 *
 * @since 0.1.0
 */
export * as Shell from "./Shell.js"

/**
 * Commands with stdout, stderr and exit codes.
 *
 * @since 0.1.0
 */
export * as RemoteCommand from "./RemoteCommand.js"

/**
 * File copies to and from an instance, verified by SHA-256 on both ends (uploads from any byte stream,
 * downloads as a stream); `NodeFileTransfer` (by path) copies local files and directories.
 *
 * @since 0.4.0
 */
export * as FileTransfer from "./FileTransfer.js"

/**
 * `kms:GenerateDataKey` for KMS-encrypted sessions, over `@aws-sdk/client-kms`.
 *
 * @since 0.1.0
 */
export * as KmsApi from "./KmsApi.js"

/**
 * Where a session whose WebSocket was lost gets a fresh token: a service with classified failures, provided by
 * `SsmApi.layer`, `BrowserSession.layer` or your own.
 *
 * @since 0.3.0
 */
export * as Resumer from "./Resumer.js"

/**
 * `ecs:ExecuteCommand`, `ecs:DescribeTasks` and `ecs:ListTasks` over `@aws-sdk/client-ecs`, with typed errors and
 * hints.
 *
 * @since 0.5.0
 */
export * as EcsApi from "./EcsApi.js"

/**
 * ECS Exec: a container chosen by cluster, service or task, and sessions in it with exit codes, stdin, terminals
 * and file copies, as the same scoped Sessions.
 *
 * @since 0.5.0
 */
export * as EcsExec from "./EcsExec.js"

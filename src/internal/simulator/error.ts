/**
 * The simulator's one error, `AgentSimulator.SimulatorError`: a reason-carrying, yieldable error.
 *
 * @internal
 */
import type * as AgentSimulator from "../../AgentSimulator.js"
import { isReasonError, ReasonError } from "../error.js"

/** @internal */
export const ErrorTypeId: AgentSimulator.ErrorTypeId = Symbol.for(
  "ssm-session-manager/AgentSimulator/SimulatorError"
) as AgentSimulator.ErrorTypeId

/** @internal */
export class SimulatorError extends ReasonError(ErrorTypeId, "SimulatorError")<AgentSimulator.SimulatorError.Reason> {}

/** @internal */
export const isSimulatorError = isReasonError<SimulatorError>(ErrorTypeId)

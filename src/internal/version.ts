/**
 * Version comparison as AWS's client does it (AGENT-PROTOCOL.md section 18.2): both versions all-numeric with
 * the same number of components, else the comparison fails and the feature counts as unsupported.
 *
 * @internal
 */

const parse = (version: string): ReadonlyArray<number> | undefined => {
  const parts = version.trim().split(".")
  if (parts.length === 0 || parts.some((part) => !/^\d+$/.test(part))) return undefined
  return parts.map(Number)
}

/**
 * True when `version` is strictly greater than `than`; false when either does not parse or their component
 * counts differ (as the official client).
 * @internal
 */
export const isGreaterThan = (version: string, than: string): boolean => {
  const a = parse(version)
  const b = parse(than)
  if (a === undefined || b === undefined || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!
  }
  return false
}

/** The agent version above which the TerminateSession flag is honoured (section 18.3, gate 8). @internal */
export const TERMINATE_FLAG_AFTER = "2.3.722.0"

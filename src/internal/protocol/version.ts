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

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/

/**
 * Compares versions as the agent does (`versionutil.Compare` with strict sorting, section 18.2): semver when both
 * are three-part semver, otherwise part by part (numerically when both parts are integers), and when one is a
 * prefix of the other the longer one is greater. Returns a negative number, 0 or a positive number.
 * @internal
 */
export const compareAgentStyle = (a: string, b: string): number => {
  const sa = SEMVER.exec(a)
  const sb = SEMVER.exec(b)
  if (sa !== null && sb !== null) {
    for (let i = 1; i <= 3; i++) {
      const d = Number(sa[i]) - Number(sb[i])
      if (d !== 0) return d
    }
    // a pre-release sorts before the release
    if (sa[4] === undefined || sb[4] === undefined) return (sa[4] === undefined ? 1 : 0) - (sb[4] === undefined ? 1 : 0)
    return sa[4] < sb[4] ? -1 : sa[4] > sb[4] ? 1 : 0
  }
  const pa = a.split(".")
  const pb = b.split(".")
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!
    const y = pb[i]!
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
      const d = Number(x) - Number(y)
      if (d !== 0) return d
    } else if (x !== y) return x < y ? -1 : 1
  }
  return a.length - b.length
}

/** Agent gate 1: smux for LocalPortForwarding from this client version on. @internal */
export const MUX_SUPPORTED_CLIENT_VERSION = "1.1.70"
/** Agent gate 2: smux keepalive off above this client version. @internal */
export const MUX_KEEPALIVE_DISABLED_AFTER_CLIENT_VERSION = "1.2.331.0"
/** Client gate 9: mux above this agent version. @internal */
export const MUX_AFTER_AGENT_VERSION = "3.0.196.0"
/** Client gate 10: smux keepalive off above this agent version. @internal */
export const KEEPALIVE_DISABLED_AFTER_AGENT_VERSION = "3.1.1511.0"
/** Remote-host documents from this agent version on (section 10.5). @internal */
export const REMOTE_HOST_FROM_AGENT_VERSION = "3.1.1188.0"

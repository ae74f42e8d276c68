/** The message of anything that has one (an `Error`, or an error-like object from elsewhere), else its text. */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === 'string' ? message : String(error)
}

/**
 * Whether an error is a refused authentication (`WRONGPASS`, `NOAUTH`, and the "invalid password"
 * of older servers): the one test of it, for sentinels and data nodes alike. Reads the `message`
 * of anything that has one (an `Error`, or an error-like object from elsewhere), else its text.
 */
export function isAuthError(error: unknown): boolean {
  return /^(WRONGPASS|NOAUTH)|invalid password|invalid username-password/i.test(messageOf(error))
}

/**
 * Whether a node refused a command of ours for the user's rights (`NOPERM`: an ACL without ROLE or
 * INFO) or does not have it (`unknown command`: renamed or disabled): the one test of it, for the
 * role check and the offset probe alike.
 */
export function isPermissionError(error: unknown): boolean {
  return /NOPERM|unknown command/i.test(messageOf(error))
}

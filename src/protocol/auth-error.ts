/**
 * Whether an error is a refused authentication (`WRONGPASS`, `NOAUTH`, and the "invalid password"
 * of older servers): the one test of it, for sentinels and data nodes alike. Reads the `message`
 * of anything that has one (an `Error`, or an error-like object from elsewhere), else its text.
 */
export function isAuthError(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message
  return /^(WRONGPASS|NOAUTH)|invalid password|invalid username-password/i.test(
    typeof message === 'string' ? message : String(error),
  )
}

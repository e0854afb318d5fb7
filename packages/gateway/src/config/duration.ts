const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Milliseconds of a duration as Livy writes them (`"10m"`, `"1h"`, `"30s"`, `"500ms"`, `"2d"`), or of a number of
 * seconds; undefined when it is neither.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!match) return undefined;
  const ms = Number(match[1]) * (UNITS[(match[2] ?? 's').toLowerCase()] ?? 1000);
  return ms > 0 ? ms : undefined;
}

/**
 * The longest a session's idle timeout or TTL may be (365 days), which is also how long the state store keeps a
 * session without either past its last use.
 */
export const LONGEST_SESSION_MS = 365 * 86_400_000;

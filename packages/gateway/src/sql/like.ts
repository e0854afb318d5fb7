/**
 * SQL `LIKE` (`%` any run, `_` one character, no escape), matched without regular expressions: the pattern is
 * split at `%` into segments, and each segment is found at its leftmost place after the previous one, which is
 * where any match can put it. Time is at most the value's length times the pattern's, whatever the pattern
 * (a regex of `%%%…z` backtracks exponentially and once stalled the event loop for seconds).
 */
export function likeMatcher(pattern: string, caseSensitive = true): (value: string) => boolean {
  const fold = (text: string): string => (caseSensitive ? text : text.toLowerCase());
  const segments = fold(pattern).split('%');
  const anchoredEnd = segments.length > 1;
  const segmentAt = (value: string, segment: string, at: number): boolean => {
    if (at + segment.length > value.length) return false;
    for (let i = 0; i < segment.length; i++) {
      const c = segment.charAt(i);
      if (c !== '_' && c !== value.charAt(at + i)) return false;
    }
    return true;
  };
  return (raw) => {
    const value = fold(raw);
    const first = segments[0] ?? '';
    if (!anchoredEnd) return value.length === first.length && segmentAt(value, first, 0);
    if (!segmentAt(value, first, 0)) return false;
    let at = first.length;
    const last = segments[segments.length - 1] ?? '';
    for (let s = 1; s < segments.length - 1; s++) {
      const segment = segments[s] ?? '';
      let found = -1;
      for (let i = at; i + segment.length <= value.length - last.length; i++) {
        if (segmentAt(value, segment, i)) {
          found = i;
          break;
        }
      }
      if (found < 0) return false;
      at = found + segment.length;
    }
    return value.length - last.length >= at && segmentAt(value, last, value.length - last.length);
  };
}

/**
 * Sorts `values[from, to)` in place, ascending with NaN last (as the built-in sort does), without allocating: NaNs
 * are moved to the end first, then a quicksort (median of three) finishes short partitions by insertion. Most
 * groups hold a few values, where creating a subarray and calling into the runtime's sort costs more than sorting.
 */
export function sortRange(values: Float64Array, from: number, to: number): void {
  let end = to;
  for (let i = from; i < end; i++) {
    if (Number.isNaN(values[i] as number)) {
      end--;
      values[i] = values[end] as number;
      values[end] = Number.NaN;
      i--;
    }
  }
  quicksort(values, from, end - 1);
}

function quicksort(values: Float64Array, low: number, high: number): void {
  while (high - low > 16) {
    const middle = (low + high) >>> 1;
    // Median of three as the pivot.
    const a = values[low] as number;
    const b = values[middle] as number;
    const c = values[high] as number;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = low;
    let j = high;
    while (i <= j) {
      while ((values[i] as number) < pivot) i++;
      while ((values[j] as number) > pivot) j--;
      if (i <= j) {
        const t = values[i] as number;
        values[i++] = values[j] as number;
        values[j--] = t;
      }
    }
    // Recurse into the smaller side, loop on the larger: the stack stays logarithmic.
    if (j - low < high - i) {
      quicksort(values, low, j);
      low = i;
    } else {
      quicksort(values, i, high);
      high = j;
    }
  }
  for (let i = low + 1; i <= high; i++) {
    const v = values[i] as number;
    let j = i - 1;
    while (j >= low && (values[j] as number) > v) {
      values[j + 1] = values[j] as number;
      j--;
    }
    values[j + 1] = v;
  }
}

// Array helpers used as seed code for codemill's examples.

/** Group the items of an array by the key that `keyOf` returns. */
function groupBy(items, keyOf) {
  const groups = {};
  for (const item of items) {
    const key = keyOf(item);
    (groups[key] ||= []).push(item);
  }
  return groups;
}

/** Values that appear in both arrays, without repeats, in the order of the first. */
function intersection(a, b) {
  const inB = new Set(b);
  return [...new Set(a)].filter((x) => inB.has(x));
}

/** Rotate an array left by k positions (negative k rotates right). */
const rotateLeft = (arr, k) => {
  if (arr.length === 0) return [];
  const shift = ((k % arr.length) + arr.length) % arr.length;
  return arr.slice(shift).concat(arr.slice(0, shift));
};

/** Binary search in a sorted array; the index of target or -1. */
function binarySearch(sorted, target) {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] === target) return mid;
    if (sorted[mid] < target) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

module.exports = { groupBy, intersection, rotateLeft, binarySearch };

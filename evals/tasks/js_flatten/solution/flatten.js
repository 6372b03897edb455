'use strict';

/**
 * Flatten nested arrays up to `depth` levels (default 1); depth Infinity flattens fully.
 * flatten([1, [2, [3]]]) -> [1, 2, [3]]; flatten([1, [2, [3]]], Infinity) -> [1, 2, 3].
 * Must not use Array.prototype.flat.
 */
function flatten(arr, depth = 1) {
  const out = [];
  for (const item of arr) {
    if (Array.isArray(item) && depth > 0) {
      out.push(...flatten(item, depth - 1));
    } else {
      out.push(item);
    }
  }
  return out;
}

module.exports = { flatten };

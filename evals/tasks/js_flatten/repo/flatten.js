'use strict';

/**
 * Flatten nested arrays up to `depth` levels (default 1); depth Infinity flattens fully.
 * flatten([1, [2, [3]]]) -> [1, 2, [3]]; flatten([1, [2, [3]]], Infinity) -> [1, 2, 3].
 * Must not use Array.prototype.flat.
 */
function flatten(arr, depth = 1) {
  throw new Error('not implemented');
}

module.exports = { flatten };

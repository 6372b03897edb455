'use strict';

// See README.md for what parseQuery must do.
function parseQuery(qs) {
  throw new Error('not implemented');
}

module.exports = { parseQuery };

'use strict';

// See README.md for what parseQuery must do.
function decode(text) {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

function parseQuery(qs) {
  const out = {};
  const body = qs.startsWith('?') ? qs.slice(1) : qs;
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? true : decode(pair.slice(eq + 1));
    if (Object.prototype.hasOwnProperty.call(out, key)) {
      out[key] = Array.isArray(out[key]) ? [...out[key], value] : [out[key], value];
    } else {
      out[key] = value;
    }
  }
  return out;
}

module.exports = { parseQuery };

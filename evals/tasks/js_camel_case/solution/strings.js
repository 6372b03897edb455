'use strict';

/**
 * Convert words separated by spaces, hyphens or underscores to camelCase:
 * the first word lower-case, every later word capitalised, separators removed.
 * camelCase('hello world') === 'helloWorld'; camelCase('Foo-bar_baz') === 'fooBarBaz'.
 * @param {string} text
 * @returns {string}
 */
function camelCase(text) {
  const words = text.split(/[\s_-]+/).filter(Boolean).map((w) => w.toLowerCase());
  return words
    .map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1)))
    .join('');
}

module.exports = { camelCase };

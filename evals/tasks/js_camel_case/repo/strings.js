'use strict';

/**
 * Convert words separated by spaces, hyphens or underscores to camelCase:
 * the first word lower-case, every later word capitalised, separators removed.
 * camelCase('hello world') === 'helloWorld'; camelCase('Foo-bar_baz') === 'fooBarBaz'.
 * @param {string} text
 * @returns {string}
 */
function camelCase(text) {
  throw new Error('not implemented');
}

module.exports = { camelCase };

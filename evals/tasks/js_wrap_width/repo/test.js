'use strict';
const assert = require('assert');
const { padRight, truncate, center, wrap, indentWrap } = require('./text');

assert.strictEqual(padRight('ab', 4), 'ab  ');
assert.strictEqual(truncate('abcdef', 4), 'abc…');
assert.strictEqual(center('ab', 5), ' ab  ');

assert.deepStrictEqual(wrap('the quick brown fox', 9), ['the quick', 'brown fox']);
assert.deepStrictEqual(wrap('a bb ccc', 4), ['a bb', 'ccc']);
assert.deepStrictEqual(wrap('  one   two ', 20), ['one two']);
assert.deepStrictEqual(wrap('tremendous', 4), ['tremendous']);
assert.deepStrictEqual(wrap('', 10), []);
assert.deepStrictEqual(indentWrap('aa bb cc', 7, 2), ['  aa bb', '  cc']);

console.log('ok');

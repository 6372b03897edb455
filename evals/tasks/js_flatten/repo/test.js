'use strict';
const assert = require('assert');
const fs = require('fs');
const { flatten } = require('./flatten');

assert.deepStrictEqual(flatten([1, [2, [3]]]), [1, 2, [3]]);
assert.deepStrictEqual(flatten([1, [2, [3, [4]]]], 2), [1, 2, 3, [4]]);
assert.deepStrictEqual(flatten([1, [2, [3, [4]]]], Infinity), [1, 2, 3, 4]);
assert.deepStrictEqual(flatten([[1], [], [2, 3]], 0), [[1], [], [2, 3]]);
assert.deepStrictEqual(flatten([]), []);
assert.ok(!/\.flat\(/.test(fs.readFileSync(__dirname + '/flatten.js', 'utf8')), 'must not use .flat()');
console.log('ok');

'use strict';
const assert = require('assert');
const { paginate, pageCount } = require('./paginate');

const items = Array.from({ length: 25 }, (_, i) => i + 1);
assert.deepStrictEqual(paginate(items, 1, 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
assert.deepStrictEqual(paginate(items, 3, 10), [21, 22, 23, 24, 25]);
assert.deepStrictEqual(paginate(items, 4, 10), []);
assert.strictEqual(pageCount(25, 10), 3);
console.log('ok');

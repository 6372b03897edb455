'use strict';
const assert = require('assert');
const { Stack } = require('./stack');

const s = new Stack();
assert.strictEqual(s.isEmpty(), true);
assert.strictEqual(s.peek(), undefined);
s.push(1);
s.push(2);
assert.strictEqual(s.peek(), 2);
assert.strictEqual(s.size, 2, 'peek must not remove the item');
assert.strictEqual(s.isEmpty(), false);
assert.strictEqual(s.pop(), 2);
assert.strictEqual(s.peek(), 1);
console.log('ok');

'use strict';
const assert = require('assert');
const { subtotal, total } = require('./cart');

const lines = [{ price: 1000, qty: 2 }, { price: 250, qty: 4 }];
assert.strictEqual(subtotal(lines), 3000);
assert.strictEqual(total(lines), 3000);
assert.strictEqual(total(lines, 10), 2700);
assert.strictEqual(total([{ price: 999, qty: 1 }], 15), 849);
console.log('ok');

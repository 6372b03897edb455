'use strict';
const assert = require('assert');
const { Ledger, formatCents } = require('./ledger');

const l = new Ledger();
l.add('2024-01-15', 250000, 'salary');
l.add('2024-02-01', -120000, 'rent');
l.add('2024-02-01', -4550, 'food');
l.add('2024-03-10', -2000, 'food');

assert.strictEqual(l.total(), 123450);
assert.deepStrictEqual(l.byCategory(), { salary: 250000, rent: -120000, food: -6550 });
assert.strictEqual(formatCents(-4550), '-45.50');

assert.strictEqual(l.balanceOn('2023-12-31'), 0);
assert.strictEqual(l.balanceOn('2024-01-15'), 250000);
assert.strictEqual(l.balanceOn('2024-02-01'), 125450);
assert.strictEqual(l.balanceOn('2024-02-28'), 125450);
assert.strictEqual(l.balanceOn('2025-01-01'), 123450);
assert.strictEqual(new Ledger().balanceOn('2024-01-01'), 0);

console.log('ok');

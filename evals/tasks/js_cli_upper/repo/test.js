'use strict';
const assert = require('assert');
const { execFileSync } = require('child_process');
const path = require('path');

const run = (...args) => execFileSync('node', [path.join(__dirname, 'cli.js'), ...args], { encoding: 'utf8' });

assert.strictEqual(run('Ada'), 'Hello, Ada!\n');
assert.strictEqual(run('--times', '2', 'Bo'), 'Hello, Bo!\nHello, Bo!\n');
assert.strictEqual(run('--upper', 'Ada'), 'HELLO, ADA!\n');
assert.strictEqual(run('Ada', '--upper'), 'HELLO, ADA!\n');
console.log('ok');

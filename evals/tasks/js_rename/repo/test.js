'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const user = require('./user');
const { greet } = require('./greet');

const OLD = 'getUser' + 'Name';
assert.strictEqual(typeof user.displayName, 'function', 'user.js must export displayName');
assert.strictEqual(user.displayName({ first: 'Ada', last: 'Lovelace' }), 'Ada Lovelace');
assert.strictEqual(user.displayName({ email: 'x@y.z' }), 'x@y.z');
assert.strictEqual(greet({ first: 'Ada' }), 'Hello, Ada!');
for (const f of fs.readdirSync(__dirname).filter((f) => f.endsWith('.js'))) {
  assert.ok(!fs.readFileSync(path.join(__dirname, f), 'utf8').includes(OLD), `${f} still says ${OLD}`);
}
console.log('ok');

'use strict';
const assert = require('assert');
const { camelCase } = require('./strings');

assert.strictEqual(camelCase('hello world'), 'helloWorld');
assert.strictEqual(camelCase('Foo-bar_baz'), 'fooBarBaz');
assert.strictEqual(camelCase('  many   spaces here '), 'manySpacesHere');
assert.strictEqual(camelCase('SHOUT case'), 'shoutCase');
assert.strictEqual(camelCase('single'), 'single');
console.log('ok');

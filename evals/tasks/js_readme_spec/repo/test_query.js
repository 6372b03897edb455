'use strict';
const assert = require('assert');
const { parseQuery } = require('./query');

assert.deepStrictEqual(parseQuery(''), {});
assert.deepStrictEqual(parseQuery('?'), {});
assert.deepStrictEqual(parseQuery('?a=1&b=two'), { a: '1', b: 'two' });
assert.deepStrictEqual(parseQuery('a=1&&b=2'), { a: '1', b: '2' });
assert.deepStrictEqual(parseQuery('?debug'), { debug: true });
assert.deepStrictEqual(parseQuery('q=a+b%21'), { q: 'a b!' });
assert.deepStrictEqual(parseQuery('t=1&t=2&t=3'), { t: ['1', '2', '3'] });
assert.deepStrictEqual(parseQuery('na%20me=x'), { 'na me': 'x' });
console.log('all query tests passed');

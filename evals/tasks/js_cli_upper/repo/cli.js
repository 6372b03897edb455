#!/usr/bin/env node
'use strict';

// Usage: node cli.js [--times N] NAME
function main(argv) {
  let times = 1;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--times') {
      times = Number(argv[++i]);
    } else {
      rest.push(argv[i]);
    }
  }
  const name = rest[0] || 'world';
  for (let i = 0; i < times; i++) {
    console.log(`Hello, ${name}!`);
  }
}

main(process.argv.slice(2));

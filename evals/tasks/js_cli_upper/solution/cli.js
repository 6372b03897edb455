#!/usr/bin/env node
'use strict';

// Usage: node cli.js [--times N] [--upper] NAME
function main(argv) {
  let times = 1;
  let upper = false;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--times') {
      times = Number(argv[++i]);
    } else if (argv[i] === '--upper') {
      upper = true;
    } else {
      rest.push(argv[i]);
    }
  }
  const name = rest[0] || 'world';
  for (let i = 0; i < times; i++) {
    const line = `Hello, ${name}!`;
    console.log(upper ? line.toUpperCase() : line);
  }
}

main(process.argv.slice(2));

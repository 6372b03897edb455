'use strict';
const { displayName } = require('./user');

/** A greeting line for a user. */
function greet(user) {
  return `Hello, ${displayName(user)}!`;
}

module.exports = { greet };

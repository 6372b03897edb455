'use strict';
const { getUserName } = require('./user');

/** A greeting line for a user. */
function greet(user) {
  return `Hello, ${getUserName(user)}!`;
}

module.exports = { greet };

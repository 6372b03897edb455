'use strict';

/** The name to show for a user: "First Last", or the email when there is no name. */
function getUserName(user) {
  const full = [user.first, user.last].filter(Boolean).join(' ');
  return full || user.email;
}

module.exports = { getUserName };

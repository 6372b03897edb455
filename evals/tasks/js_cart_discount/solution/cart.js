'use strict';

/** Sum of price * qty over the cart's lines, in cents. */
function subtotal(lines) {
  return lines.reduce((sum, l) => sum + l.price * l.qty, 0);
}

/**
 * The amount to pay, in cents: the subtotal minus `percent` per cent of it,
 * rounded to the nearest cent. total(lines, 10) is 90% of the subtotal.
 */
function total(lines, percent = 0) {
  return Math.round(subtotal(lines) * (100 - percent) / 100);
}

module.exports = { subtotal, total };

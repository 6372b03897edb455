'use strict';

// A household ledger: dated entries with an amount in cents and a category.

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function checkDate(date) {
  if (typeof date !== 'string' || !ISO_DATE.test(date)) {
    throw new TypeError(`not an ISO date: ${date}`);
  }
  return date;
}

function formatCents(cents) {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100);
  const frac = String(abs % 100).padStart(2, '0');
  return `${sign}${whole}.${frac}`;
}

class Ledger {
  constructor() {
    this.entries = [];
  }

  /** Record an entry; returns its index. */
  add(date, cents, category = 'other') {
    checkDate(date);
    if (!Number.isInteger(cents)) {
      throw new TypeError('amount must be whole cents');
    }
    this.entries.push({ date, cents, category });
    return this.entries.length - 1;
  }

  /** The sum of every entry. */
  total() {
    return this.entries.reduce((sum, e) => sum + e.cents, 0);
  }

  /** Totals per category, as an object. */
  byCategory() {
    const totals = {};
    for (const e of this.entries) {
      totals[e.category] = (totals[e.category] || 0) + e.cents;
    }
    return totals;
  }

  /** Entries between two dates, both ends included, oldest first. */
  between(from, to) {
    checkDate(from);
    checkDate(to);
    return this.entries
      .filter((e) => e.date >= from && e.date <= to)
      .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  }

  /** The balance at the end of `date`: every entry on or before it. */
  balanceOn(date) {
    checkDate(date);
    return this.entries
      .filter((e) => e.date <= date)
      .reduce((sum, e) => sum + e.cents, 0);
  }

  /** One line per entry: date, amount, category. */
  report() {
    return this.entries
      .map((e) => `${e.date} ${formatCents(e.cents).padStart(10)} ${e.category}`)
      .join('\n');
  }
}

module.exports = { Ledger, formatCents };

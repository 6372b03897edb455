'use strict';

/** A last-in, first-out stack. */
class Stack {
  constructor() {
    this.items = [];
  }

  /** Put an item on top. */
  push(item) {
    this.items.push(item);
  }

  /** Take the top item off and return it (undefined when empty). */
  pop() {
    return this.items.pop();
  }

  /** How many items there are. */
  get size() {
    return this.items.length;
  }
}

module.exports = { Stack };

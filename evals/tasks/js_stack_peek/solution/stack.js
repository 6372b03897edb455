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

  /** The top item, left in place (undefined when empty). */
  peek() {
    return this.items[this.items.length - 1];
  }

  /** Whether there are no items. */
  isEmpty() {
    return this.items.length === 0;
  }

  /** How many items there are. */
  get size() {
    return this.items.length;
  }
}

module.exports = { Stack };

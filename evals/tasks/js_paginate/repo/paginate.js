'use strict';

/**
 * The items on page `page` (numbered from 1) when each page holds `size` items.
 * Returns [] for a page past the end.
 */
function paginate(items, page, size) {
  const start = page * size;
  return items.slice(start, start + size);
}

/** How many pages `count` items fill at `size` per page. */
function pageCount(count, size) {
  return Math.ceil(count / size);
}

module.exports = { paginate, pageCount };

'use strict';

// Plain-text helpers for a terminal: padding, truncation and word wrap.

/** Pad `text` on the right with spaces to `width` characters. */
function padRight(text, width) {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** Cut `text` to at most `width` characters, ending with '…' when cut. */
function truncate(text, width) {
  if (width < 1) {
    return '';
  }
  return text.length <= width ? text : text.slice(0, width - 1) + '…';
}

/** Center `text` in `width` characters; an odd space goes on the right. */
function center(text, width) {
  const room = Math.max(0, width - text.length);
  const left = Math.floor(room / 2);
  return ' '.repeat(left) + text + ' '.repeat(room - left);
}

/**
 * Wrap `text` into lines of at most `width` characters, breaking between words.
 * A word longer than `width` goes on a line of its own, unbroken.
 */
function wrap(text, width) {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  const lines = [];
  let line = '';
  for (const word of words) {
    if (line === '') {
      line = word;
    } else if (line.length + 1 + word.length <= width) {
      line += ' ' + word;
    } else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '') {
    lines.push(line);
  }
  return lines;
}

/** Wrap and then indent every line by `indent` spaces. */
function indentWrap(text, width, indent) {
  const pad = ' '.repeat(indent);
  return wrap(text, width - indent).map((l) => pad + l);
}

module.exports = { padRight, truncate, center, wrap, indentWrap };

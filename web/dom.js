// dom.js: the DOM helper every page of the UI shares (the dashboard, the
// playground and the frame-sync demo).

/**
 * The page's element with that id, or null when the page has none.
 * @param {string} id
 * @returns {any} the element, typed loosely so that a caller reads an
 *   input's value or a checkbox's checked without a cast.
 */
export const $ = (id) => document.getElementById(id);

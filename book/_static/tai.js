/* The book's small fixes to what the theme and Sphinx produce (book/_scripts/book_site.py
 * adds this file to every page, deferred: it runs once the page is parsed). */
"use strict";

/* Search snippets are cut from a page's raw HTML, where formulas are still TeX source
 * ("\(x + \delta\)"): drop formulas (and MathJax's output) before Sphinx reads the text. */
if (typeof Search !== "undefined" && Search.htmlToText) {
  const htmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    page.querySelectorAll(".math, mjx-container, .eqno").forEach((el) => el.replaceWith("…"));
    return htmlToText(page.documentElement.outerHTML, anchor);
  };
}

/* Accessible names that the theme gets wrong (axe-core: label-content-name-mismatch,
 * button-name, aria-required-children). Run again on "load": Font Awesome turns the
 * icons into <svg> elements with their own titles after this script ran. */
function fixAccessibleNames() {
  // The search button says "Search Ctrl+K"; its aria-label said only "Search".
  document.querySelectorAll(".search-button-field[aria-label]").forEach((button) => {
    button.removeAttribute("aria-label");
  });
  // The colour-mode button's icons carry titles ("Light", "Dark", …) that read as its
  // visible text next to its label "Color mode": the icons are decoration.
  document.querySelectorAll(".theme-switch-button .theme-switch").forEach((icon) => {
    icon.removeAttribute("title");
    icon.querySelectorAll("title").forEach((title) => title.remove());
    icon.removeAttribute("aria-labelledby");
    icon.setAttribute("aria-hidden", "true");
  });
  // The sidebar's expand/collapse toggles (a <summary> holding only an icon) are named
  // after the section they open.
  document.querySelectorAll("nav details > summary").forEach((summary) => {
    if (summary.getAttribute("aria-label") || summary.textContent.trim()) return;
    const link = summary.parentElement.parentElement.querySelector(":scope > a");
    const name = link ? link.textContent.trim() : "section";
    summary.setAttribute("aria-label", `Show or hide the pages of ${name}`);
  });
  // docutils marks a bibliography role="list" but its entries doc-biblioentry, which is
  // not a list item: the entries become list items.
  document.querySelectorAll('.citation-list[role="list"] > [role="doc-biblioentry"]')
    .forEach((entry) => entry.setAttribute("role", "listitem"));
}

/* pandas leaves the corner of a table's header, above the row labels, an empty <th>: a
 * header that names nothing (axe-core: empty-table-header). It becomes a plain cell. */
document.querySelectorAll("table thead th").forEach((th) => {
  if (th.textContent.trim()) return;
  const cell = document.createElement("td");
  for (const attribute of th.attributes) cell.setAttribute(attribute.name, attribute.value);
  th.replaceWith(cell);
});

fixAccessibleNames();
window.addEventListener("load", fixAccessibleNames);

// String helpers used as seed code for codemill's examples.

/** Convert camelCase or PascalCase to snake_case. */
function toSnakeCase(name) {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}

/** Count how often each character occurs in a string. */
function charCounts(text) {
  const counts = new Map();
  for (const ch of text) counts.set(ch, (counts.get(ch) || 0) + 1);
  return counts;
}

/** Render a template like "Hello {name}" with values from an object. */
function renderTemplate(template, values) {
  return template.replace(/\{(\w+)\}/g, (match, key) =>
    Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match,
  );
}

/** True when two strings are anagrams of each other (letters only, any case). */
function isAnagram(a, b) {
  const norm = (s) => s.toLowerCase().replace(/[^a-z]/g, "").split("").sort().join("");
  return norm(a) === norm(b);
}

module.exports = { toSnakeCase, charCounts, renderTemplate, isAnagram };

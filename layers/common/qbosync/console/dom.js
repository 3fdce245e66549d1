// A tiny DOM builder: text always goes in as text nodes, never as HTML, so API data cannot inject markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else if (name === "checked") element.checked = Boolean(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

// Append children to an existing element, skipping the empty ones (null, false) as `h` does.
export function put(element, ...children) {
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

export function formatDate(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function daysUntil(value, now = Date.now()) {
  if (!value) return null;
  const time = new Date(value).getTime();
  if (Number.isNaN(time)) return null;
  return Math.floor((time - now) / 86400000);
}

export function humanize(identifier) {
  const text = String(identifier).replace(/[_-]+/g, " ").trim();
  return (text.charAt(0).toUpperCase() + text.slice(1)).replace(/\bqbo\b/gi, "QBO");
}

// A labelled form control; `control` gets the id the label points at.
export function field(label, control, hint, error) {
  const id = control.id || uid("field");
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  const isCheck = control.type === "checkbox";
  return h(
    "div",
    { class: isCheck ? "field field-check" : "field", dataset: { field: control.name || "" } },
    isCheck ? [control, h("label", { for: id }, label)] : [h("label", { for: id }, label), control],
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errorId, role: "alert", hidden: !error }, error || ""),
  );
}

export function showFieldError(container, name, message) {
  const wrapper = container.querySelector(`[data-field="${CSS.escape(name)}"]`);
  if (!wrapper) return false;
  const error = wrapper.querySelector(".field-error");
  error.textContent = message;
  error.hidden = false;
  wrapper.classList.add("has-error");
  wrapper.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
  return true;
}

export function clearFieldErrors(container) {
  for (const wrapper of container.querySelectorAll(".has-error")) {
    wrapper.classList.remove("has-error");
    wrapper.querySelector("[aria-invalid]")?.removeAttribute("aria-invalid");
  }
  for (const error of container.querySelectorAll(".field-error")) {
    error.hidden = true;
    error.textContent = "";
  }
}

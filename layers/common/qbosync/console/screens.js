// The console's screens, in the order of the setup guides. Every read and write goes through the
// public admin API (`ctx.api`); nothing here knows more than an API client would.

import { ApiError } from "./api.js";
import { clearFieldErrors, daysUntil, field, formatDate, h, humanize, put, showFieldError, uid } from "./dom.js";
import { explainReason, reasonCode } from "./reasons.js";

const DOC_NUMBER_MAX = 21; // QBO's DocNumber length limit
const HARD_EXPIRY_WARNING_DAYS = 60;
const IDLE_EXPIRY_WARNING_DAYS = 14;
const POLL_MS = 1000;
const CONNECT_WAIT_MS = 5 * 60 * 1000;
const PREREQUISITE_POLLS = 15;
const FINISHED = new Set(["SUCCEEDED", "SUCCEEDED_WITH_WARNINGS", "SUCCEEDED_WITH_ERRORS", "FAILED", "ABORTED"]);

let generation = 0;

export const SCREENS = [
  { id: "connection", title: "Connection", render: connectionScreen },
  { id: "invoice-options", title: "Invoice options", render: (main, ctx) => settingsScreen(main, ctx, INVOICE_OPTIONS) },
  { id: "payment-methods", title: "Payment methods", render: (main, ctx) => mappingScreen(main, ctx, "payment-methods") },
  { id: "gl-codes", title: "GL codes", render: (main, ctx) => mappingScreen(main, ctx, "gl-codes") },
  { id: "product-types", title: "Product types", render: (main, ctx) => mappingScreen(main, ctx, "product-types") },
  { id: "payment-options", title: "Payment options", render: (main, ctx) => settingsScreen(main, ctx, PAYMENT_OPTIONS) },
  { id: "defaults", title: "Unmatched items & defaults", render: (main, ctx) => settingsScreen(main, ctx, DEFAULTS) },
  { id: "income-accounts", title: "Income accounts", render: (main, ctx) => mappingScreen(main, ctx, "income-accounts") },
  { id: "gl-accounts", title: "GL accounts", render: (main, ctx) => mappingScreen(main, ctx, "gl-accounts") },
  { id: "tax-codes", title: "Tax codes", render: (main, ctx) => mappingScreen(main, ctx, "tax-codes") },
  { id: "preflight", title: "Preflight", render: preflightScreen },
  { id: "initial-sync", title: "Initial sync", render: initialSyncScreen },
  { id: "events", title: "Events", render: eventsScreen },
];

export async function renderScreen(id, main, baseContext) {
  generation += 1;
  const mine = generation;
  const screen = SCREENS.find((candidate) => candidate.id === id) || SCREENS[0];
  const ctx = { ...baseContext, alive: () => mine === generation, screen };
  const section = h("section", { class: "screen", "aria-labelledby": `${screen.id}-title` });
  main.replaceChildren(section);
  try {
    await screen.render(section, ctx);
  } catch (error) {
    if (!ctx.alive()) return;
    if (!section.querySelector("h1")) put(section, ...title(ctx));
    put(section, errorNotice(error));
  }
  const heading = section.querySelector("h1");
  if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
}

function title(ctx, text, intro) {
  return [
    h("h1", { id: `${ctx.screen.id}-title`, tabindex: "-1" }, text || ctx.screen.title),
    intro ? h("p", { class: "intro" }, intro) : null,
  ];
}

function nextButton(ctx) {
  const index = SCREENS.findIndex((screen) => screen.id === ctx.screen.id);
  const next = SCREENS[index + 1];
  if (!next) return null;
  return h("a", { class: "button ghost next", href: `#${next.id}` }, `Next: ${next.title} →`);
}

function errorNotice(error) {
  const details = error instanceof ApiError ? error.details : [];
  return h(
    "div",
    { class: "notice notice-bad", role: "alert" },
    h("strong", {}, error instanceof ApiError ? `${error.message} (${error.code})` : String(error.message || error)),
    details.length
      ? h("ul", {}, details.map((detail) => h("li", {}, detail.message || detail.reason || JSON.stringify(detail))))
      : null,
  );
}

// Worth asking again: the network, a throttle, or the server's own trouble (never a refusal of the request).
function isTransient(error) {
  return error instanceof ApiError && (error.status === 0 || error.status === 429 || error.status >= 500);
}

function busy(button, label) {
  const original = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (label) button.textContent = label;
  return () => {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = original;
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------- connection

const LIGHTS = {
  connected: ["ok", "Connected"],
  needs_reauth: ["warn", "Needs reconnecting"],
  disconnected: ["bad", "Disconnected"],
  not_connected: ["off", "Not connected"],
};

async function readConnection(api) {
  try {
    return (await api.get("/qbo/connection")).body;
  } catch (error) {
    if (error instanceof ApiError && error.code === "not_connected") return null;
    throw error;
  }
}

async function connectionScreen(section, ctx) {
  const connection = await readConnection(ctx.api);
  if (!ctx.alive()) return;
  const status = connection ? connection.status : "not_connected";
  const [tone, label] = LIGHTS[status] || LIGHTS.not_connected;
  const message = h("div", { class: "connect-message", role: "status", "aria-live": "polite" });

  const connectButton = h(
    "button",
    { class: "intuit-connect", type: "button", id: "connect-button" },
    h("span", { class: "intuit-mark", "aria-hidden": "true" }, "qb"),
    status === "needs_reauth" || status === "connected" ? "Reconnect to QuickBooks" : "Connect to QuickBooks",
  );
  connectButton.addEventListener("click", () => connect(ctx, connectButton, message, connection));

  const actions = h("div", { class: "actions" }, connectButton);
  if (status === "connected" || status === "needs_reauth") {
    actions.append(disconnectControl(ctx, connection));
  }

  put(section, 
    ...title(ctx, "QuickBooks Online connection"),
    ctx.reconnect
      ? h("p", { class: "notice notice-warn" }, "QuickBooks asked you to reconnect this company. Sign in to QuickBooks again with the button below.")
      : null,
    h(
      "div",
      { class: "card connection-card" },
      h(
        "div",
        { class: "status-line" },
        h("span", { class: `light light-${tone}`, "aria-hidden": "true" }),
        h("span", { class: "status-text", id: "connection-status", dataset: { status } }, label),
        connection?.company_name ? h("span", { class: "company" }, connection.company_name) : null,
      ),
      connection ? connectionFacts(connection) : h("p", { class: "muted" }, "No QuickBooks Online company is connected to this tenant yet."),
      expiryWarnings(connection),
      actions,
      message,
    ),
    serviceAccountAdvice(),
    connection?.prerequisites?.length ? prerequisites(connection.prerequisites) : null,
    connection?.status === "connected" ? planDetails(connection) : null,
    h("p", { class: "fine-print" }, "The connect button follows Intuit's “Connect to QuickBooks” button guidelines: its label is not changed, it starts only the connection, and it opens Intuit's sign-in in its own window (Intuit's pages cannot be framed)."),
    status === "connected" ? nextButton(ctx) : null,
  );
  if (ctx.reconnect) connectButton.focus();
}

function connectionFacts(connection) {
  const rows = [
    ["Company", connection.company_name || "—"],
    ["Realm ID", connection.realm_id],
    ["Connected by", connection.connected_by],
    ["Connected", formatDate(connection.connected_at)],
    ["Last token refresh", formatDate(connection.last_refreshed_at)],
    ["Last reconciliation", formatDate(connection.last_reconciled_at)],
  ];
  if (connection.status === "needs_reauth") rows.push(["Why reconnect", connection.needs_reauth_reason || "QuickBooks refused the refresh token"]);
  if (connection.status === "disconnected") rows.push(["Disconnected", `${formatDate(connection.disconnected_at)} by ${connection.disconnected_by || "—"}`]);
  if (connection.sync_paused) rows.push(["Sync paused", `since ${formatDate(connection.paused_at)} by ${connection.paused_by || "—"}; changes wait for the resume`]);
  return h("dl", { class: "facts" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]));
}

function expiryWarnings(connection) {
  if (!connection || connection.status !== "connected") return null;
  const notes = [];
  const hardDays = daysUntil(connection.hard_expires_at);
  if (hardDays !== null && hardDays <= HARD_EXPIRY_WARNING_DAYS) {
    notes.push(`Intuit ends this connection for good on ${formatDate(connection.hard_expires_at)} (the 5-year limit of a refresh token): reconnect before then.`);
  }
  const idleDays = daysUntil(connection.refresh_token_expires_at);
  if (idleDays !== null && idleDays <= IDLE_EXPIRY_WARNING_DAYS) {
    notes.push(`The refresh token lapses on ${formatDate(connection.refresh_token_expires_at)} unless it is used (Intuit's 100-day idle limit); the keep-alive schedule normally refreshes it.`);
  }
  const facts = [];
  if (connection.hard_expires_at) facts.push(`Hard expiry (5-year limit): ${formatDate(connection.hard_expires_at)}`);
  if (connection.refresh_token_expires_at) facts.push(`Idle expiry (100 days unused): ${formatDate(connection.refresh_token_expires_at)}`);
  return h(
    "div",
    { class: "expiry" },
    notes.map((note) => h("p", { class: "notice notice-warn", role: "alert" }, note)),
    facts.length ? h("p", { class: "muted small" }, facts.join(" · ")) : null,
  );
}

function serviceAccountAdvice() {
  return h(
    "aside",
    { class: "notice notice-info", "aria-label": "Service account advice" },
    h("strong", {}, "Sign in with a service account. "),
    "Create a dedicated QuickBooks user with Company Admin rights for this integration and sign in with it, not your personal user: QuickBooks' audit log then names the integration, and the connection does not depend on one person's job.",
  );
}

function prerequisites(checks) {
  return h(
    "div",
    { class: "card" },
    h("h2", {}, "Prerequisites"),
    checkList(checks),
  );
}

// The company settings that change what the sync does (GET /qbo/connection's `plan`).
function planDetails(connection) {
  const plan = connection.plan;
  if (!plan) {
    return h("div", { class: "card", id: "plan-details" }, h("h2", {}, "QuickBooks plan"), h("p", { class: "muted" }, connection.plan_unavailable_reason || "Not read yet."));
  }
  const onOff = (value) => (value ? "on" : "off");
  const rows = [
    ["Edition", plan.edition || "—"],
    ["Multi-currency", plan.multi_currency ? `on (home currency ${plan.home_currency || "—"})` : `off (home currency ${plan.home_currency || "—"})`],
    ["Track inventory quantities", onOff(plan.track_inventory)],
    ["Account numbers", onOff(plan.account_numbers)],
    ["Automated Sales Tax", plan.automated_sales_tax ? (plan.automated_sales_tax_set_up ? "on" : "on, not set up yet") : "off"],
  ];
  return h(
    "div",
    { class: "card", id: "plan-details" },
    h("h2", {}, "QuickBooks plan"),
    h("dl", { class: "facts" }, rows.map(([name, value]) => [h("dt", {}, name), h("dd", { dataset: { plan: name } }, value)])),
  );
}

function checkList(checks) {
  return h(
    "ul",
    { class: "checks" },
    checks.map((check) =>
      h(
        "li",
        { class: `check check-${check.status}`, dataset: { check: check.id } },
        h("span", { class: `badge badge-${check.status}` }, check.status),
        h("div", {}, h("strong", {}, humanize(check.id)), h("p", {}, check.reason), check.fix ? h("p", { class: "fix" }, h("span", { class: "fix-label" }, "How to fix: "), check.fix) : null),
      ),
    ),
  );
}

function disconnectControl(ctx, connection) {
  const wrapper = h("span", { class: "disconnect" });
  const ask = h("button", { class: "button danger-outline", type: "button", id: "disconnect-button" }, "Disconnect");
  ask.addEventListener("click", () => {
    const confirmButton = h("button", { class: "button danger", type: "button", id: "confirm-disconnect" }, "Yes, disconnect");
    const cancel = h("button", { class: "button ghost", type: "button" }, "Cancel");
    const prompt = h("span", { class: "confirm", role: "group", "aria-label": "Confirm disconnect" }, `Disconnect ${connection.company_name || "QuickBooks"}? Syncing stops until you connect again. `, confirmButton, cancel);
    cancel.addEventListener("click", () => wrapper.replaceChildren(ask));
    confirmButton.addEventListener("click", async () => {
      const done = busy(confirmButton, "Disconnecting…");
      try {
        await ctx.api.del("/qbo/connection");
        ctx.toast("QuickBooks Online disconnected");
        ctx.postToHost("disconnected", {});
        await renderScreen("connection", document.getElementById("main"), ctx);
      } catch (error) {
        done();
        wrapper.append(errorNotice(error));
      }
    });
    wrapper.replaceChildren(prompt);
    confirmButton.focus();
  });
  wrapper.append(ask);
  return wrapper;
}

async function connect(ctx, button, message, before) {
  // Opened in the click itself so a pop-up blocker lets it through; Intuit's page is loaded into it next.
  const popup = window.open("", "qbosync-connect", "popup,width=520,height=700");
  if (!popup) {
    message.replaceChildren(h("p", { class: "notice notice-warn" }, "Allow pop-ups for this page: Intuit's sign-in opens in its own window."));
    return;
  }
  const done = busy(button, "Waiting for QuickBooks…");
  message.replaceChildren(h("p", {}, "Sign in to QuickBooks in the window that opened, and choose the company to connect."));
  try {
    const started = await ctx.api.get("/qbo/connect", { redirect: "false" });
    popup.opener = null;
    popup.location.href = started.body.authorize_url;
    const deadline = Date.now() + CONNECT_WAIT_MS;
    let connectedPolls = 0;
    while (Date.now() < deadline && ctx.alive()) {
      await sleep(POLL_MS);
      let now;
      try {
        now = await readConnection(ctx.api);
      } catch (error) {
        if (isTransient(error)) continue; // Intuit's window stays open: the next poll may see the connection
        throw error;
      }
      const fresh = now && now.status === "connected" && (!before || now.connected_at !== before.connected_at || before.status !== "connected");
      if (fresh) connectedPolls += 1;
      // The prerequisites are checked just after the connection is stored: wait a little for them.
      if (fresh && (now.prerequisites?.length || connectedPolls > PREREQUISITE_POLLS)) {
        popup.close();
        ctx.toast(`Connected to ${now.company_name || "QuickBooks Online"}`, "ok");
        ctx.postToHost("connected", { realm_id: now.realm_id, company_name: now.company_name });
        await renderScreen("connection", document.getElementById("main"), ctx);
        return;
      }
      if (popup.closed) {
        // The window may close right after the callback: look once more before giving up.
        const last = await readConnection(ctx.api);
        if (last && last.status === "connected" && (!before || last.connected_at !== before.connected_at)) continue;
        message.replaceChildren(h("p", { class: "notice notice-warn" }, "The QuickBooks window was closed before the connection finished. Try again."));
        done();
        return;
      }
    }
    done();
  } catch (error) {
    popup.close();
    done();
    message.replaceChildren(errorNotice(error));
  }
}

// ------------------------------------------------------------------------------------------ settings

const INVOICE_OPTIONS = {
  title: "Invoice options",
  intro: "What syncs, and how invoice and credit note numbers look in QuickBooks. Keep the invoice prefix on: it tells synced documents apart from ones entered in QuickBooks.",
  groups: [
    {
      legend: "Sync",
      fields: [
        { path: "sync.customers", label: "Customers", type: "checkbox" },
        { path: "sync.products", label: "Products", type: "checkbox" },
        { path: "sync.invoices", label: "Invoices", type: "checkbox" },
        { path: "sync.credit_notes", label: "Credit notes", type: "checkbox" },
      ],
    },
    { legend: "Invoice number prefix", prefix: "invoice" },
    { legend: "Credit note prefix", prefix: "credit_note" },
    { legend: "Write-off prefix", prefix: "write_off" },
    {
      legend: "Rules",
      fields: [
        { path: "deletion_policy", label: "When an invoice is deleted in the source", type: "select", options: [["void", "Void it in QuickBooks"], ["delete", "Delete it in QuickBooks"]], hint: "An invoice with payments is voided either way." },
        { path: "customer_matching", label: "Match existing QuickBooks customers by", type: "select", options: [["display_name", "Display name"], ["email", "E-mail"], ["both", "Display name and e-mail"]] },
        { path: "name_collision_policy", label: "When a vendor or employee already has the name", type: "select", options: [["report", "Report it"], ["suffix", "Add a suffix"]] },
        { path: "drift_policy", label: "When a synced document is changed in QuickBooks", type: "select", options: [["report", "Report it"], ["heal", "Write the source's version again"]] },
      ],
    },
  ],
};

const PAYMENT_OPTIONS = {
  title: "Payment options",
  intro: "How payments look in QuickBooks, and whether payments entered in QuickBooks are recorded in the source. Keep the payment prefix on.",
  groups: [
    { legend: "Sync", fields: [{ path: "sync.payments", label: "Payments", type: "checkbox" }, { path: "sync.qbo_to_source_payments", label: "Record payments entered in QuickBooks in the source", type: "checkbox" }] },
    { legend: "Payment number prefix", prefix: "payment" },
    { legend: "Source side", fields: [{ path: "source_defaults.qbo_payment_method_code", label: "Source payment method for QuickBooks payments no mapping names", type: "source", sourceList: "payment-methods" }] },
  ],
};

const DEFAULTS = {
  title: "Unmatched items & defaults",
  intro: "What to use when a record has no match on the other side, and the tax code, class and bill profile new records get.",
  groups: [
    {
      legend: "Unmatched items",
      fields: [
        { path: "source_defaults.unmatched_qbo_item_product_id", label: "Source product for unmatched QuickBooks items", type: "source", sourceList: "products" },
        { path: "qbo_defaults.unmatched_one_time_item_id", label: "QuickBooks item for unmatched one-time products", type: "qbo", reference: "items" },
        { path: "qbo_defaults.unmatched_recurring_item_id", label: "QuickBooks item for unmatched recurring products", type: "qbo", reference: "items" },
      ],
    },
    {
      legend: "Invoice lines",
      fields: [
        { path: "qbo_defaults.invoice_tax_code_id", label: "QuickBooks tax code for invoices", type: "qbo", reference: "tax-codes" },
        { path: "qbo_defaults.invoice_class_id", label: "QuickBooks class for invoice lines", type: "qbo", reference: "classes" },
      ],
    },
    {
      legend: "Customers created in QuickBooks",
      fields: [
        { path: "source_defaults.new_customer_bill_profile_id", label: "Bill profile for customers created in the source from QuickBooks", type: "source", sourceList: "bill-profiles" },
        { path: "sync.qbo_to_source_customers", label: "Create customers entered in QuickBooks in the source", type: "checkbox" },
      ],
    },
  ],
};

function getPath(object, path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);
}

function setPath(object, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  const parent = keys.reduce((value, key) => (value[key] ??= {}), object);
  parent[last] = value;
}

async function loadReference(api, kind, refresh = false) {
  const reply = await api.get(`/qbo/reference/${kind}`, refresh ? { refresh: "true" } : undefined);
  return reply.body.entries;
}

// The source's list of one kind (`code`, `name`, `mapped`, `mapped_to`, `default_for`).
async function loadSourceReference(api, kind, refresh = false) {
  const reply = await api.get(`/source/reference/${kind}`, refresh ? { refresh: "true" } : undefined);
  return reply.body.entries;
}

function sourceEntryLabel(entry) {
  const parts = [entry.code === entry.name ? entry.code : `${entry.code} · ${entry.name}`];
  if (entry.active === false) parts.push("(inactive)");
  return parts.join(" ");
}

// A dropdown of source values; a stored value the source no longer lists stays visible, marked.
function sourceSelect(entries, value, attributes, markTaken = () => false) {
  const known = entries.some((entry) => entry.code === value);
  return h(
    "select",
    attributes,
    h("option", { value: "" }, "— choose —"),
    value && !known ? h("option", { value, selected: true }, `${value} (not in the source's list)`) : null,
    entries.map((entry) => h("option", { value: entry.code, selected: entry.code === value }, sourceEntryLabel(entry) + (markTaken(entry) ? "  ✓ mapped" : ""))),
  );
}

function entryLabel(entry) {
  const parts = [entry.name];
  if (entry.type) parts.push(`· ${entry.type}`);
  if (entry.active === false) parts.push("(inactive)");
  return parts.join(" ");
}

async function settingsScreen(section, ctx, spec) {
  const loaded = await ctx.api.get("/settings");
  const kinds = [...new Set(spec.groups.flatMap((group) => (group.fields || []).filter((f) => f.type === "qbo").map((f) => f.reference)))];
  const sourceKinds = [...new Set(spec.groups.flatMap((group) => (group.fields || []).filter((f) => f.type === "source").map((f) => f.sourceList)))];
  const references = {};
  const sourceLists = {};
  let referenceError = null;
  try {
    await Promise.all([
      ...kinds.map(async (kind) => { references[kind] = await loadReference(ctx.api, kind); }),
      ...sourceKinds.map(async (kind) => { sourceLists[kind] = await loadSourceReference(ctx.api, kind); }),
    ]);
  } catch (error) {
    referenceError = error;
  }
  if (!ctx.alive()) return;
  const settings = structuredClone(loaded.body.settings);
  let etag = loaded.etag;
  const status = h("div", { class: "form-status", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "form", novalidate: true });
  for (const group of spec.groups) {
    const fieldset = h("fieldset", { class: "card" }, h("legend", {}, group.legend));
    if (group.prefix) fieldset.append(prefixEditor(settings, group.prefix));
    for (const fieldSpec of group.fields || []) fieldset.append(settingControl(settings, fieldSpec, references, sourceLists));
    form.append(fieldset);
  }
  const save = h("button", { class: "button primary", type: "submit" }, "Save");
  form.append(h("div", { class: "actions" }, save, nextButton(ctx)), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    const done = busy(save, "Saving…");
    try {
      const reply = await ctx.api.put("/settings", settings, etag);
      etag = reply.etag;
      status.replaceChildren(h("p", { class: "notice notice-ok" }, `Saved (version ${reply.body.version}).`));
      ctx.toast("Settings saved", "ok");
    } catch (error) {
      status.replaceChildren(errorNotice(error));
      for (const detail of error.details || []) {
        const path = detail.field || String(detail.loc || "").replace(/^body\.?/, "");
        showFieldError(form, nearestField(form, path), detail.message);
      }
      if (error.code === "version_conflict" || error.status === 409) {
        status.append(h("p", {}, "Someone else changed the settings. ", h("a", { href: `#${ctx.screen.id}`, onclick: () => renderScreen(ctx.screen.id, document.getElementById("main"), ctx) }, "Reload them"), " and make your change again."));
      }
    } finally {
      done();
    }
  });
  put(section, ...title(ctx, spec.title, spec.intro), referenceError ? errorNotice(referenceError) : null, form);
}

// The form field an error's path names, or the first field inside the group it names (a prefix as a whole).
function nearestField(form, path) {
  let candidate = path;
  while (candidate) {
    if (form.querySelector(`[data-field="${CSS.escape(candidate)}"]`)) return candidate;
    const inside = form.querySelector(`[data-field^="${CSS.escape(candidate + ".")}"]`);
    if (inside) return inside.dataset.field;
    candidate = candidate.includes(".") ? candidate.slice(0, candidate.lastIndexOf(".")) : "";
  }
  return path;
}

function settingControl(settings, spec, references, sourceLists) {
  const value = getPath(settings, spec.path);
  let control;
  if (spec.type === "checkbox") {
    control = h("input", { type: "checkbox", name: spec.path, checked: Boolean(value) });
    control.addEventListener("change", () => setPath(settings, spec.path, control.checked));
  } else if (spec.type === "select") {
    control = h("select", { name: spec.path }, spec.options.map(([optionValue, label]) => h("option", { value: optionValue, selected: optionValue === value }, label)));
    control.addEventListener("change", () => setPath(settings, spec.path, control.value));
  } else if (spec.type === "qbo") {
    const entries = references[spec.reference] || [];
    control = h(
      "select",
      { name: spec.path },
      h("option", { value: "" }, "— none —"),
      entries.map((entry) => h("option", { value: entry.id, selected: entry.id === value }, entryLabel(entry))),
    );
    control.addEventListener("change", () => setPath(settings, spec.path, control.value || null));
  } else if (spec.type === "source" && sourceLists[spec.sourceList]) {
    control = sourceSelect(sourceLists[spec.sourceList], value ?? "", { name: spec.path });
    control.querySelector("option[value='']").textContent = "— none —";
    control.addEventListener("change", () => setPath(settings, spec.path, control.value || null));
  } else {
    // The source's list could not be read: the value can still be typed, and the API checks it.
    control = h("input", { type: "text", name: spec.path, value: value ?? "", autocomplete: "off", spellcheck: "false" });
    control.addEventListener("input", () => setPath(settings, spec.path, control.value.trim() || null));
  }
  const hint = spec.type === "source" ? `${spec.hint ? spec.hint + " " : ""}From the source's ${humanize(spec.sourceList).toLowerCase()}.` : spec.hint;
  return field(spec.label, control, hint);
}

function prefixEditor(settings, kind) {
  const path = `prefixes.${kind}`;
  const prefix = getPath(settings, path);
  const enabled = h("input", { type: "checkbox", name: `${path}.enabled`, checked: prefix.enabled });
  const value = h("input", { type: "text", name: `${path}.value`, value: prefix.value, maxlength: "10", autocomplete: "off", spellcheck: "false" });
  const sample = h("input", { type: "text", name: `${path}.sample`, value: "1042", inputmode: "numeric", autocomplete: "off" });
  const preview = h("output", { class: "doc-number", for: `${value.id} ${sample.id}`, "aria-live": "polite" });
  const length = h("span", { class: "muted small" });
  function update() {
    setPath(settings, `${path}.enabled`, enabled.checked);
    setPath(settings, `${path}.value`, value.value);
    value.disabled = !enabled.checked;
    // As the push writes it: a number that already starts with the prefix keeps its own, not doubled.
    const alreadyPrefixed = sample.value.toLowerCase().startsWith(value.value.toLowerCase());
    const number = (enabled.checked && !alreadyPrefixed ? value.value : "") + sample.value;
    preview.textContent = number || "—";
    preview.classList.toggle("too-long", number.length > DOC_NUMBER_MAX);
    length.textContent = number.length > DOC_NUMBER_MAX
      ? ` ${number.length} characters: longer than QuickBooks' ${DOC_NUMBER_MAX}`
      : ` ${number.length}/${DOC_NUMBER_MAX} characters`;
  }
  for (const control of [enabled, value, sample]) control.addEventListener("input", update);
  enabled.addEventListener("change", update);
  const box = h(
    "div",
    { class: "prefix-editor", dataset: { prefix: kind } },
    field(`Use the ${humanize(kind).toLowerCase()} prefix`, enabled),
    h("div", { class: "prefix-row" }, field("Prefix", value, "Letters, digits and # / _ . - ; at most 10."), field("Sample source number", sample)),
    h("p", { class: "preview" }, "QuickBooks DocNumber: ", preview, length),
  );
  update();
  return box;
}

// ------------------------------------------------------------------------------------------ mappings

const MAPPINGS = {
  "payment-methods": { reference: "payment-methods", source: "Source payment method", qbo: "QuickBooks payment method", intro: "Map each payment method the source uses to a QuickBooks payment method." },
  "gl-codes": { reference: "accounts", source: "Source GL code", qbo: "QuickBooks income account", intro: "Map each source GL code to a QuickBooks income account (accounts of type Income)." },
  "product-types": { reference: "item-types", source: "Source product type", qbo: "QuickBooks item type", intro: "Map each source product type to the kind of QuickBooks item its products become." },
  "income-accounts": { reference: "items", source: "Source income or expense account", qbo: "QuickBooks product/service", intro: "Map each source fee income and expense account to the QuickBooks product or service whose income account it feeds. Map at least one for invoicing." },
  "gl-accounts": { reference: "accounts", source: "Source GL account", qbo: "QuickBooks account", intro: "Map the accounts of the source's general ledger to their QuickBooks equivalents." },
  "tax-codes": { reference: "tax-codes", source: "Source tax code", qbo: "QuickBooks tax code", intro: "Map each source tax code to a QuickBooks tax code. Set up a zero-rate tax code in QuickBooks first." },
};

async function mappingScreen(section, ctx, kind) {
  const spec = MAPPINGS[kind];
  const [mapping, entries, sourceEntries] = await Promise.all([
    ctx.api.get(`/mappings/${kind}`),
    loadReference(ctx.api, spec.reference),
    // Without the source's list the source value is typed instead (the API still checks it).
    loadSourceReference(ctx.api, kind).catch(() => null),
  ]);
  if (!ctx.alive()) return;
  const view = { kind, spec, entries, sourceEntries, etag: mapping.etag, rows: mapping.body.rows.map((row) => ({ key: uid("row"), source_key: row.source_key, qbo_id: row.qbo_id })) };
  const suggestions = h("datalist", { id: `${kind}-source-values` });
  const tbody = h("tbody");
  const reference = h("div", { class: "reference-list" });
  const status = h("div", { class: "form-status", role: "status", "aria-live": "polite" });

  function mappedFrom(entry) {
    const local = view.rows.filter((row) => row.qbo_id === entry.id && row.source_key.trim()).map((row) => row.source_key.trim());
    return [...new Set([...local, ...(entry.mapped_from || [])])];
  }

  function renderReference() {
    reference.replaceChildren(
      h("h2", { id: `${kind}-reference-title` }, `QuickBooks ${humanize(spec.reference).toLowerCase()}`),
      h(
        "ul",
        { "aria-labelledby": `${kind}-reference-title` },
        view.entries.map((entry) => {
          const from = mappedFrom(entry);
          return h(
            "li",
            { class: from.length ? "mapped" : "", dataset: { qboId: entry.id } },
            h(from.length ? "s" : "span", {}, entryLabel(entry)),
            from.length ? h("span", { class: "mapped-from" }, ` ← ${from.join(", ")}`) : null,
          );
        }),
      ),
    );
  }

  function renderSuggestions() {
    const known = new Set(view.rows.map((row) => row.source_key.trim()).filter(Boolean));
    suggestions.replaceChildren(...[...known].sort().map((value) => h("option", { value })));
  }

  function rowElement(row, index) {
    const label = `${spec.source}, row ${index + 1}`;
    let source;
    if (view.sourceEntries) {
      // Mapped = another row of this table already maps from it (the API refuses a key twice).
      const taken = (entry) => view.rows.some((other) => other !== row && other.source_key.trim() === entry.code);
      source = sourceSelect(view.sourceEntries, row.source_key, { "aria-label": label, name: "source_key" }, taken);
      source.addEventListener("change", () => { row.source_key = source.value; renderRows(); });
    } else {
      source = h("input", { type: "text", value: row.source_key, list: suggestions.id, autocomplete: "off", spellcheck: "false", "aria-label": label, name: "source_key" });
      source.addEventListener("input", () => { row.source_key = source.value; renderReference(); renderSuggestions(); });
    }
    const select = h(
      "select",
      { "aria-label": `${spec.qbo}, row ${index + 1}`, name: "qbo_id" },
      h("option", { value: "" }, "— choose —"),
      view.entries.map((entry) => {
        const taken = mappedFrom(entry).filter((value) => value !== row.source_key.trim());
        return h("option", { value: entry.id, selected: entry.id === row.qbo_id }, entryLabel(entry) + (taken.length ? "  ✓ mapped" : ""));
      }),
    );
    select.addEventListener("change", () => { row.qbo_id = select.value; renderReference(); });
    const remove = h("button", { class: "button ghost small", type: "button", "aria-label": `Remove row ${index + 1}` }, "Remove");
    remove.addEventListener("click", () => { view.rows = view.rows.filter((candidate) => candidate !== row); renderRows(); });
    return h(
      "tr",
      { dataset: { row: row.key } },
      h("td", { "data-label": spec.source }, source),
      h("td", { "data-label": spec.qbo }, select, h("p", { class: "row-error", role: "alert", hidden: true })),
      h("td", { class: "row-actions" }, remove),
    );
  }

  function renderRows() {
    tbody.replaceChildren(...view.rows.map(rowElement));
    if (!view.rows.length) tbody.append(h("tr", { class: "empty" }, h("td", { colspan: "3" }, "No mappings yet. Add a row.")));
    renderReference();
    renderSuggestions();
  }

  function showRowErrors(details, submitted) {
    let shown = 0;
    for (const detail of details) {
      // A mapping refusal names the row by source_key and qbo_id; a malformed row by its index (rows.N...).
      const index = /(?:^|\.)rows\.(\d+)/.exec(String(detail.loc || ""));
      const row = (index && submitted[Number(index[1])]) || view.rows.find((candidate) => candidate.source_key.trim() === detail.source_key && candidate.qbo_id === detail.qbo_id && !candidate.errorShown)
        || view.rows.find((candidate) => candidate.source_key.trim() === detail.source_key && !candidate.errorShown);
      if (!row) continue;
      row.errorShown = true;
      const element = tbody.querySelector(`[data-row="${row.key}"]`);
      element.classList.add("has-error");
      const message = element.querySelector(".row-error");
      message.textContent = detail.message;
      message.hidden = false;
      for (const control of element.querySelectorAll("input, select")) control.setAttribute("aria-invalid", "true");
      shown += 1;
    }
    return shown;
  }

  const add = h("button", { class: "button", type: "button", id: `${kind}-add-row`, "aria-label": `Add a ${ctx.screen.title} mapping row` }, "+ Add row");
  add.addEventListener("click", () => {
    view.rows.push({ key: uid("row"), source_key: "", qbo_id: "" });
    renderRows();
    tbody.querySelector("tr:last-child select, tr:last-child input")?.focus();
  });
  const save = h("button", { class: "button primary", type: "submit" }, "Save mappings");
  const refresh = h("button", { class: "button ghost", type: "button", id: `${kind}-refresh` }, "Refresh reference data");
  refresh.addEventListener("click", async () => {
    const done = busy(refresh, "Refreshing…");
    try {
      const [qboEntries, sourceEntries] = await Promise.all([
        loadReference(ctx.api, spec.reference, true),
        loadSourceReference(ctx.api, kind, true),
      ]);
      view.entries = qboEntries;
      view.sourceEntries = sourceEntries;
      renderRows();
      ctx.toast("QuickBooks and source lists refreshed", "ok");
    } catch (error) {
      status.replaceChildren(errorNotice(error));
    } finally {
      done();
    }
  });
  const form = h(
    "form",
    { class: "mapping-form", novalidate: true },
    h("div", { class: "table-wrap" }, h("table", { class: "mapping-table" }, h("caption", { class: "visually-hidden" }, `${ctx.screen.title} mappings`), h("thead", {}, h("tr", {}, h("th", { scope: "col" }, spec.source), h("th", { scope: "col" }, spec.qbo), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))), tbody)),
    suggestions,
    h("div", { class: "actions" }, add, save),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const row of view.rows) row.errorShown = false;
    renderRows();
    const submitted = view.rows.filter((row) => row.source_key.trim() || row.qbo_id);
    const rows = submitted.map((row) => ({ source_key: row.source_key.trim(), qbo_id: row.qbo_id }));
    const done = busy(save, "Saving…");
    try {
      const reply = await ctx.api.put(`/mappings/${kind}`, { rows }, view.etag);
      view.etag = reply.etag;
      view.rows = reply.body.rows.map((row) => ({ key: uid("row"), source_key: row.source_key, qbo_id: row.qbo_id }));
      view.entries = await loadReference(ctx.api, spec.reference);
      if (view.sourceEntries) view.sourceEntries = await loadSourceReference(ctx.api, kind);
      renderRows();
      status.replaceChildren(h("p", { class: "notice notice-ok" }, `Saved ${reply.body.rows.length} mapping(s) (version ${reply.body.version}).`));
      ctx.toast("Mappings saved", "ok");
    } catch (error) {
      const onRows = showRowErrors(error.details || [], submitted);
      status.replaceChildren(errorNotice(error));
      if (onRows) status.append(h("p", { class: "muted" }, "The refused rows are marked below their QuickBooks choice; nothing was saved."));
    } finally {
      done();
    }
  });
  put(section, 
    ...title(ctx, `${ctx.screen.title} mappings`, spec.intro),
    h("p", { class: "muted small" }, view.sourceEntries
      ? "Source values come from the source's own list; values another row already maps from are marked ✓ mapped."
      : "The source's list could not be read, so source values are typed in; the API checks each one against the source."),
    h("div", { class: "mapping-layout" }, h("div", { class: "card" }, form), h("aside", { class: "card reference", "aria-label": "QuickBooks reference" }, reference, refresh)),
    nextButton(ctx),
  );
  renderRows();
}

// ----------------------------------------------------------------------------------------- preflight

async function preflightScreen(section, ctx) {
  const results = h("div", { "aria-live": "polite" });
  const run = h("button", { class: "button primary", type: "button", id: "run-preflight" }, "Run the checks again");
  async function check() {
    const done = busy(run, "Checking…");
    try {
      const report = (await ctx.api.get("/preflight")).body;
      if (!ctx.alive()) return;
      results.replaceChildren(
        h("p", { class: report.ok ? "notice notice-ok" : "notice notice-bad", id: "preflight-verdict" }, report.ok ? "Ready to sync: no check fails." : "Not ready: fix the failing checks first."),
        checkList(report.checks),
      );
    } catch (error) {
      results.replaceChildren(errorNotice(error));
    } finally {
      done();
    }
  }
  put(section, ...title(ctx, "Preflight", "Everything the initial sync needs, checked against QuickBooks and the source now."), h("div", { class: "card" }, results, h("div", { class: "actions" }, run, nextButton(ctx))));
  run.addEventListener("click", check);
  await check();
}

// -------------------------------------------------------------------------------------- initial sync

function runKey(tenantId) {
  return `qbosync.console.run.${tenantId}`;
}

function planKey(tenantId) {
  return `qbosync.console.plan.${tenantId}`;
}

async function initialSyncScreen(section, ctx) {
  const start = h("button", { class: "button primary", type: "button", id: "start-sync" }, "Finish: start the initial sync");
  const panel = h("div", { class: "run-panel" });
  const status = h("div", { role: "status", "aria-live": "polite" });
  const dryRun = h("button", { class: "button", type: "button", id: "start-dry-run" }, "Dry run: see what the sync will do");
  const planPanel = h("div", { class: "plan-panel", "aria-live": "polite" });
  put(section, 
    ...title(ctx, "Initial sync", "Customers and products are synced both ways: existing records are matched, never duplicated; missing ones are created."),
    h("p", { class: "notice notice-info" }, "The sync runs on the server, so closing this page does not stop it; the page picks the run up again when you come back."),
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Dry run"),
      h("p", { class: "muted" }, "Plans the whole sync record by record, reading QuickBooks and the source and writing nothing to either. Review it, download it, then run the sync from it: the run checks the plan again first and stops, writing nothing, if any record changed since."),
      h("div", { class: "actions" }, dryRun),
      planPanel,
    ),
    h("div", { class: "card" }, h("div", { class: "actions" }, start), status, panel),
    nextButton(ctx),
  );
  async function startRun(body, button) {
    const done = busy(button, "Starting…");
    let started;
    try {
      started = (await ctx.api.post("/sync/initial", body)).body;
    } catch (error) {
      done();
      status.replaceChildren(errorNotice(error));
      if (error.code === "preflight_failed") status.append(h("p", {}, h("a", { href: "#preflight" }, "See the preflight checks")));
      return;
    }
    done();
    sessionStorage.setItem(runKey(ctx.tenantId), started.run_id);
    status.replaceChildren();
    await follow(started.run_id, true);
  }
  start.addEventListener("click", () => startRun(undefined, start));
  dryRun.addEventListener("click", async () => {
    const done = busy(dryRun, "Starting the dry run…");
    let started;
    try {
      started = (await ctx.api.post("/sync/initial", { dry_run: true })).body;
    } catch (error) {
      done();
      planPanel.replaceChildren(errorNotice(error));
      return;
    }
    sessionStorage.setItem(planKey(ctx.tenantId), started.plan_id);
    await followPlan(started.plan_id);
    done();
  });
  async function followPlan(planId) {
    while (ctx.alive()) {
      let plan;
      try {
        plan = (await ctx.api.get(`/sync/plans/${encodeURIComponent(planId)}`, { limit: 1 })).body.plan;
      } catch (error) {
        planPanel.replaceChildren(errorNotice(error));
        if (!isTransient(error)) {
          if (error.status === 404) sessionStorage.removeItem(planKey(ctx.tenantId));
          return;
        }
        await sleep(POLL_MS * 3);
        continue;
      }
      if (!ctx.alive()) return;
      planPanel.replaceChildren(planView(plan, ctx, startRun));
      if (plan.status !== "running") return;
      await sleep(POLL_MS);
    }
  }
  // `sync_finished` goes to the host only for a run this page saw running, not for one it merely shows again.
  async function follow(runId, startedHere = false) {
    let seenRunning = startedHere;
    while (ctx.alive()) {
      let run;
      try {
        run = (await ctx.api.get(`/sync/runs/${encodeURIComponent(runId)}`)).body;
      } catch (error) {
        status.replaceChildren(errorNotice(error));
        if (!isTransient(error)) {
          if (error.status === 404) sessionStorage.removeItem(runKey(ctx.tenantId));
          return;
        }
        // The run goes on on the server: a lost poll is shown and retried, never the end of following it.
        status.append(h("p", { class: "muted small", id: "run-poll-retrying" }, "Still following the run; retrying…"));
        await sleep(POLL_MS * 3);
        continue;
      }
      if (!ctx.alive()) return;
      status.replaceChildren();
      panel.replaceChildren(runView(run, ctx, follow));
      if (FINISHED.has(run.status)) {
        if (seenRunning) ctx.postToHost("sync_finished", { run_id: run.run_id, status: run.status, totals: run.totals });
        start.disabled = false;
        start.textContent = "Start another sync";
        return;
      }
      seenRunning = true;
      start.disabled = true;
      await sleep(POLL_MS);
    }
  }
  const rememberedPlan = sessionStorage.getItem(planKey(ctx.tenantId));
  const remembered = sessionStorage.getItem(runKey(ctx.tenantId));
  await Promise.all([rememberedPlan ? followPlan(rememberedPlan) : null, remembered ? follow(remembered) : null]);
}

const PLAN_ACTIONS = ["match", "create", "skip", "suggestion"];
const PLAN_TONES = { running: "info", ready: "ok", failed: "bad" };

// A dry run's plan: records per entity and action, the reasons, the reads, downloads and "run it".
function planView(plan, ctx, startRun) {
  const counts = Object.entries(plan.counts || {}).sort(([a], [b]) => a.localeCompare(b));
  const view = h(
    "div",
    { class: "plan", id: "plan", dataset: { status: plan.status, planId: plan.plan_id } },
    h("div", { class: "run-head" }, h("span", { class: `badge badge-${PLAN_TONES[plan.status] || "info"}`, id: "plan-status" }, humanize(plan.status)), h("span", { class: "muted" }, `Plan ${plan.plan_id}`)),
  );
  if (plan.status === "running") {
    view.append(h("p", { class: "muted" }, "Planning page by page on the server…"));
    return view;
  }
  if (plan.status === "failed") {
    view.append(h("div", { class: "notice notice-bad", role: "alert" }, `The dry run stopped: ${plan.failure || "no reason given"}. Make a new dry run.`));
    return view;
  }
  view.append(
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "counts", id: "plan-summary" },
        h("caption", {}, "What the sync will do, by record"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Entity"), PLAN_ACTIONS.map((action) => h("th", { scope: "col" }, humanize(action))))),
        h("tbody", {}, counts.map(([entity, actions]) => h("tr", { dataset: { entity } }, h("th", { scope: "row" }, humanize(entity)), PLAN_ACTIONS.map((action) => h("td", { dataset: { action } }, String(actions[action] || 0)))))),
      ),
    ),
    h("p", { id: "plan-reads" }, `QuickBooks reads the sync from this plan will make: ${plan.qbo_reads} (its check of the plan included).`),
    (plan.reasons || []).length
      ? h(
          "div",
          { class: "skips" },
          h("h3", {}, "Why"),
          h(
            "ul",
            { id: "plan-reasons" },
            plan.reasons.map((found) =>
              h(
                "li",
                { class: "plan-reason", dataset: { entity: found.entity, action: found.action, code: found.reason_code } },
                h("strong", {}, `${found.count} ${humanize(found.entity).toLowerCase()} · ${found.action}: `),
                h("code", { class: "reason-code" }, found.reason_code),
                h("p", { class: "skip-explanation muted" }, found.count > 1 ? `The first: ${found.reason}` : found.reason),
              ),
            ),
          ),
        )
      : null,
  );
  const downloaded = h("p", { class: "muted small", id: "plan-download-status", role: "status" });
  const downloads = ["json", "csv"].map((format) => {
    const button = h("button", { class: "button ghost", type: "button", id: `download-plan-${format}` }, `Download ${format.toUpperCase()}`);
    button.addEventListener("click", async () => {
      const done = busy(button);
      try {
        const file = await ctx.api.download(`/sync/plans/${encodeURIComponent(plan.plan_id)}/download`, { format });
        const name = `${plan.plan_id}.${format}`;
        const link = h("a", { href: URL.createObjectURL(new Blob([file.text], { type: file.type })), download: name });
        link.click();
        setTimeout(() => URL.revokeObjectURL(link.href), 60000);
        downloaded.replaceChildren(`Downloaded ${name}`);
      } catch (error) {
        downloaded.replaceChildren(errorNotice(error));
      }
      done();
    });
    return button;
  });
  const run = h("button", { class: "button primary", type: "button", id: "run-plan" }, "Run the sync from this plan");
  run.addEventListener("click", () => startRun({ plan_id: plan.plan_id }, run));
  view.append(h("div", { class: "actions" }, run, ...downloads), downloaded);
  return view;
}

function runView(run, ctx, follow) {
  const percentage = Math.max(0, Math.min(100, Number(run.percentage) || 0));
  const counts = Object.entries(run.counts || {}).sort(([a], [b]) => a.localeCompare(b));
  const fields = ["matched", "created", "skipped", "failed"];
  const tone = run.status === "SUCCEEDED" ? "ok" : run.status === "RUNNING" ? "info" : run.status === "SUCCEEDED_WITH_ERRORS" || run.status === "SUCCEEDED_WITH_WARNINGS" ? "warn" : "bad";
  const view = h(
    "div",
    { class: "run", dataset: { status: run.status, runId: run.run_id } },
    h("div", { class: "run-head" }, h("span", { class: `badge badge-${tone}`, id: "run-status" }, humanize(run.status.toLowerCase())), h("span", { class: "muted" }, `Run ${run.run_id} · ${humanize(run.phase)} · pages ${run.done_pages}/${run.total_pages}`)),
    h(
      "div",
      { class: "progress", role: "progressbar", "aria-label": "Initial sync progress", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(percentage), id: "sync-progress" },
      h("div", { class: `progress-bar progress-${tone}`, style: null }),
    ),
    h("p", { class: "progress-label", id: "sync-percentage" }, `${percentage.toFixed(percentage % 1 ? 1 : 0)}%`),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "counts" },
        h("caption", {}, "Records by outcome"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Entity"), fields.map((name) => h("th", { scope: "col" }, humanize(name))))),
        h(
          "tbody",
          {},
          counts.map(([entity, count]) => h("tr", {}, h("th", { scope: "row" }, humanize(entity)), fields.map((name) => h("td", { class: count[name] && (name === "skipped" || name === "failed") ? `count-${name}` : "" }, String(count[name] || 0))))),
          h("tr", { class: "total" }, h("th", { scope: "row" }, "Total"), fields.map((name) => h("td", {}, String(run.totals?.[name] || 0)))),
        ),
      ),
    ),
    skipsAndFailures(run),
    runWarnings(run),
  );
  view.querySelector(".progress-bar").style.width = `${percentage}%`;
  if (run.status === "FAILED" || run.status === "ABORTED") {
    const resume = h("button", { class: "button", type: "button", id: "resume-sync" }, "Resume this run");
    resume.addEventListener("click", async () => {
      const done = busy(resume, "Resuming…");
      try {
        await ctx.api.post(`/sync/runs/${encodeURIComponent(run.run_id)}/resume`);
        await follow(run.run_id, true);
      } catch (error) {
        view.append(errorNotice(error));
        done();
      }
    });
    view.append(h("div", { class: "actions" }, resume));
  }
  return view;
}

// One entry per entity and skip reason: the count, what the code means (from the API), and a few records.
function skipReasonItem(skips) {
  const sample = skips.sample || [];
  return h(
    "li",
    { class: `skip-reason${skips.warns ? " skip-warns" : ""}`, dataset: { code: skips.code, entity: skips.entity } },
    h("strong", {}, `${skips.count} ${humanize(skips.entity).toLowerCase()}: `),
    h("code", { class: "reason-code" }, skips.code),
    h("p", { class: "skip-explanation muted" }, skips.explanation || ""),
    sample.length
      ? h(
          "details",
          {},
          h("summary", {}, sample.length < skips.count ? `First ${sample.length} of them` : "Which ones"),
          h("ul", { class: "skip-sample" }, sample.map((record) => h("li", {}, h("code", {}, record.source_id), ` ${record.message}`))),
        )
      : null,
  );
}

// One entry per entity and warning code: records created, but not quite as the source has them.
function runWarningItem(warnings) {
  const sample = warnings.sample || [];
  return h(
    "li",
    { class: "run-warning skip-warns", dataset: { code: warnings.code, entity: warnings.entity } },
    h("strong", {}, `${warnings.count} ${humanize(warnings.entity).toLowerCase()}: `),
    h("code", { class: "reason-code" }, warnings.code),
    h("p", { class: "skip-explanation muted" }, warnings.explanation || ""),
    sample.length
      ? h(
          "details",
          {},
          h("summary", {}, sample.length < warnings.count ? `First ${sample.length} of them` : "Which ones"),
          h("ul", { class: "skip-sample" }, sample.map((record) => h("li", {}, h("code", {}, record.source_id), ` ${record.message}`))),
        )
      : null,
  );
}

function runWarnings(run) {
  const warnings = run.warnings || [];
  if (!warnings.length) return null;
  return h("div", { class: "skips" }, h("h2", {}, "Created with warnings"), h("ul", { id: "run-warnings" }, warnings.map(runWarningItem)));
}

function skipsAndFailures(run) {
  const reasons = run.skips || [];
  const explained = new Set(reasons.map((skips) => skips.entity));
  // Runs stored before skips had reasons report only a count.
  const unexplained = Object.entries(run.counts || {}).filter(([entity, count]) => count.skipped && !explained.has(entity));
  const failed = run.failed_pages || [];
  if (!reasons.length && !unexplained.length && !failed.length) return null;
  return h(
    "div",
    { class: "skips" },
    h("h2", {}, "Skipped and failed"),
    h(
      "ul",
      { id: "skip-reasons" },
      reasons.map(skipReasonItem),
      unexplained.map(([entity, count]) => h("li", {}, `${count.skipped} ${entity} skipped (this run predates skip reasons)`)),
      failed.map((page) => h("li", { class: "failed-page" }, h("strong", {}, `${humanize(page.entity)} page ${page.page_no}: `), page.reason, explainReason(page.reason) ? h("span", { class: "muted" }, ` — ${explainReason(page.reason)}`) : null)),
    ),
  );
}

// -------------------------------------------------------------------------------------------- events

const EVENT_TABS = [
  ["failed", "Failed"],
  ["parked", "Parked"],
  ["stuck", "Stuck"],
  ["done", "Done"],
  ["done_with_warnings", "Done with warnings"],
  ["superseded", "Superseded"],
];

async function eventsScreen(section, ctx) {
  let current = new URLSearchParams(window.location.search).get("events") || "failed";
  const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Event status" });
  const list = h("div", { class: "events", "aria-live": "polite" });
  put(section, 
    ...title(ctx, "Events", "Every change qbosync applied, or could not. Failed and parked events can be retried once their cause is fixed; the retry schedule also retries them."),
    h("div", { class: "card" }, tabs, list),
    h("p", { class: "muted small" }, "Stuck: taken by a worker that never finished (killed by its timeout or memory) more than 15 minutes ago; the retry schedule re-queues them too."),
  );
  function renderTabs() {
    tabs.replaceChildren(
      ...EVENT_TABS.map(([status, label]) => {
        const tab = h("button", { type: "button", class: "tab", "aria-pressed": String(status === current), dataset: { status } }, label);
        tab.addEventListener("click", () => { current = status; renderTabs(); load(); });
        return tab;
      }),
    );
  }
  async function load(cursor) {
    const page = (await ctx.api.get("/sync/events", { status: current, limit: 25, cursor })).body;
    if (!ctx.alive()) return;
    if (!cursor) list.replaceChildren();
    list.querySelector(".more")?.remove();
    if (!page.items.length && !cursor) {
      list.append(h("p", { class: "muted", id: "events-empty" }, `No ${current} events.`));
      return;
    }
    let table = list.querySelector("table");
    if (!table) {
      table = h(
        "table",
        { class: "events-table" },
        h("caption", { class: "visually-hidden" }, `${humanize(current)} events`),
        h("thead", {}, h("tr", {}, ["Received", "Change", "Status", "Reason", "Attempts", ""].map((name) => h("th", { scope: "col" }, name)))),
        h("tbody"),
      );
      list.append(h("div", { class: "table-wrap" }, table));
    }
    const tbody = table.querySelector("tbody");
    for (const event of page.items) tbody.append(eventRow(event, ctx));
    if (page.next_cursor) {
      const more = h("button", { class: "button ghost more", type: "button" }, "Load more");
      more.addEventListener("click", () => load(page.next_cursor));
      list.append(more);
    }
  }
  renderTabs();
  await load();
}

function eventRow(event, ctx) {
  // The API's reason_code is what the explanation keys on; `reason` is the sentence for people.
  const code = event.reason_code || reasonCode(event.parked_on || event.reason);
  const explanation = explainReason(code);
  const retryable = ["failed", "parked", "stuck", "superseded"].includes(event.status) || event.reason_code === "stuck";
  // Where qbosync improvised on a done event (the change is applied, not quite as the source has it).
  const warnings = event.warnings || [];
  const cells = [
    h("td", { "data-label": "Received" }, formatDate(event.received_at)),
    h("td", { "data-label": "Change" }, h("strong", {}, humanize(event.kind)), h("br"), h("span", { class: "muted small" }, `${event.source_object_id} · v${event.source_version}`)),
    h("td", { "data-label": "Status" }, h("span", { class: `badge badge-${event.status}${warnings.length ? " badge-warn" : ""}` }, event.outcome || event.status)),
    h(
      "td",
      { "data-label": "Reason", class: "reason" },
      code ? h("code", {}, code) : null,
      (event.reason || event.parked_on || "") !== code ? h("span", {}, ` ${event.reason || event.parked_on || ""}`) : null,
      event.status === "stuck" && event.age_seconds != null ? h("span", { class: "muted" }, ` (taken ${Math.round(event.age_seconds / 60)} min ago)`) : null,
      explanation ? h("p", { class: "explain" }, explanation) : null,
      event.qbo_fault ? h("p", { class: "fault" }, `QuickBooks fault ${event.qbo_fault.code}: ${event.qbo_fault.message}`) : null,
      warnings.length
        ? h("ul", { class: "event-warnings", "aria-label": "Warnings" }, warnings.map((warning) => h("li", { class: "event-warning", dataset: { code: warning.code } }, h("code", {}, warning.code), ` ${warning.message}`)))
        : null,
      // A failure a later event of the same document replaced: that event is the one to follow.
      event.superseded_by ? h("p", { class: "superseded-by muted" }, "Superseded by event ", h("code", {}, event.superseded_by)) : null,
    ),
    h("td", { "data-label": "Attempts" }, String(event.attempts)),
  ];
  const action = h("td", { class: "row-actions" });
  if (retryable) {
    const retry = h("button", { class: "button small", type: "button", "aria-label": `Retry ${event.kind} ${event.source_object_id}` }, "Retry");
    retry.addEventListener("click", async () => {
      const done = busy(retry, "Queuing…");
      try {
        await ctx.api.post(`/sync/events/${encodeURIComponent(event.event_id)}/retry`);
        retry.textContent = "Queued";
        retry.setAttribute("aria-busy", "false");
        row.classList.add("queued");
        ctx.toast(`Retry of ${event.kind} ${event.source_object_id} queued`, "ok");
      } catch (error) {
        done();
        action.append(errorNotice(error));
      }
    });
    action.append(retry);
  }
  const row = h("tr", { dataset: { eventId: event.event_id } }, cells, action);
  return row;
}

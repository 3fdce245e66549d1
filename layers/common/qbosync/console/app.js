// The console shell: who is signed in (a session handed over by the host page, the URL fragment, or
// pasted by support staff), the step navigation, theming, and the events posted to a host page.

import { createApi } from "./api.js";
import { h } from "./dom.js";
import { SCREENS, renderScreen } from "./screens.js";

const THEME_VARIABLES = new Set([
  "--qs-accent", "--qs-accent-text", "--qs-bg", "--qs-surface", "--qs-text", "--qs-muted", "--qs-border",
  "--qs-ok", "--qs-warn", "--qs-bad", "--qs-radius", "--qs-font", "--qs-focus",
]);
const SESSION_KEY = "qbosync.console.session";
const query = new URLSearchParams(window.location.search);
const embedded = query.get("embed") === "1" && window.parent !== window;
const parentOrigin = embedded ? validOrigin(query.get("parent_origin")) : null;
// The deployment may sit under a path prefix (a stage): the API lives where the console's path starts.
const basePath = window.location.pathname.replace(/\/console\/?$/, "");

const state = {
  tenantId: null,
  session: null,
  screen: null,
  reconnect: query.get("reconnect") === "1",
  reauthChecked: false,
};

function validOrigin(value) {
  if (!value) return null;
  try {
    const origin = new URL(value).origin;
    return origin === value && origin !== "null" ? origin : null;
  } catch (failure) {
    return null;
  }
}

export function postToHost(name, detail = {}) {
  if (!embedded || !parentOrigin) return;
  window.parent.postMessage({ type: "qbosync:event", name, tenant_id: state.tenantId, detail }, parentOrigin);
}

function applyTheme(theme) {
  if (!theme || typeof theme !== "object") return;
  for (const [name, value] of Object.entries(theme)) {
    if (THEME_VARIABLES.has(name) && typeof value === "string" && value.length < 200) {
      document.documentElement.style.setProperty(name, value);
    }
  }
}

export function toast(message, tone = "info") {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.dataset.tone = tone;
  box.classList.add("visible");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("visible"), 4000);
}

function readFragmentSession() {
  const fragment = window.location.hash.slice(1);
  if (!fragment.includes("session=")) return null;
  const values = new URLSearchParams(fragment);
  const screen = values.get("screen");
  // The session must not stay in the address bar, the history or a bookmark.
  history.replaceState(null, "", window.location.pathname + window.location.search + (screen ? `#${screen}` : ""));
  return { tenantId: values.get("tenant"), session: values.get("session") };
}

function storedSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch (failure) {
    return null;
  }
}

function startSession(tenantId, session) {
  if (!tenantId || !session) return false;
  if (tenantId !== state.tenantId) state.reauthChecked = false;
  state.tenantId = tenantId;
  state.session = session;
  if (!embedded) sessionStorage.setItem(SESSION_KEY, JSON.stringify({ tenantId, session }));
  return true;
}

function endSession(reason) {
  state.session = null;
  if (!embedded) sessionStorage.removeItem(SESSION_KEY);
  postToHost("session_expired", { reason });
  renderSignIn(reason);
}

const api = () =>
  createApi({
    basePath,
    tenantId: state.tenantId,
    session: () => state.session,
    onUnauthorized: () => endSession("The session has expired or was refused. Sign in again."),
  });

function currentScreen() {
  const name = window.location.hash.slice(1);
  return SCREENS.some((screen) => screen.id === name) ? name : query.get("screen") || "connection";
}

function renderNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    h(
      "ol",
      {},
      SCREENS.map((screen, index) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#${screen.id}`,
              "aria-current": screen.id === state.screen ? "page" : null,
              onclick: () => closeMenu(),
            },
            h("span", { class: "step-no", "aria-hidden": "true" }, String(index + 1)),
            screen.title,
          ),
        ),
      ),
    ),
  );
  nav.hidden = false;
}

function closeMenu() {
  document.getElementById("nav").classList.remove("open");
  document.getElementById("menu-toggle").setAttribute("aria-expanded", "false");
}

// The host hears `needs_reauth` once per session, whichever screen the console opens on.
async function reportReauthOnce() {
  if (state.reauthChecked) return;
  state.reauthChecked = true;
  try {
    const connection = (await api().get("/qbo/connection")).body;
    if (connection.status === "needs_reauth") postToHost("needs_reauth", { reason: connection.needs_reauth_reason });
  } catch (failure) {
    // Never connected (409) or unreachable: nothing to report; the connection screen says why.
  }
}

async function show() {
  if (!state.session) return;
  reportReauthOnce();
  state.screen = currentScreen();
  renderNav();
  document.getElementById("tenant-label").textContent = `Tenant ${state.tenantId}`;
  const main = document.getElementById("main");
  const context = {
    api: api(),
    tenantId: state.tenantId,
    reconnect: state.reconnect,
    postToHost,
    toast,
    go: (screenId) => {
      window.location.hash = screenId;
    },
  };
  state.reconnect = false;
  await renderScreen(state.screen, main, context);
  document.title = `${SCREENS.find((screen) => screen.id === state.screen).title} · qbosync`;
}

function renderSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("tenant-label").textContent = "";
  const main = document.getElementById("main");
  if (embedded) {
    main.replaceChildren(
      h("section", { class: "card" }, h("h1", {}, "Waiting for a session"), h("p", { class: "muted" }, message || "The host application hands the console a session.")),
    );
    return;
  }
  const tenant = h("input", { id: "signin-tenant", name: "tenant", required: true, autocomplete: "off", value: state.tenantId || "" });
  const token = h("textarea", { id: "signin-token", name: "session", required: true, rows: 4, spellcheck: "false" });
  const form = h(
    "form",
    {
      class: "card form",
      onsubmit: (event) => {
        event.preventDefault();
        if (startSession(tenant.value.trim(), token.value.trim())) show();
      },
    },
    h("h1", {}, "Sign in to the console"),
    message ? h("p", { class: "notice notice-warn" }, message) : null,
    h("p", { class: "muted" }, "Use an admin token from your identity provider whose qbosync_tenants claim names the tenant."),
    h("div", { class: "field" }, h("label", { for: "signin-tenant" }, "Tenant id"), tenant),
    h("div", { class: "field" }, h("label", { for: "signin-token" }, "Admin token (JWT)"), token),
    h("button", { class: "button primary", type: "submit" }, "Open the console"),
  );
  main.replaceChildren(form);
}

function listenToHost() {
  window.addEventListener("message", (event) => {
    // Only the page that framed us, at the origin it declared, may hand over a session or a theme.
    if (event.source !== window.parent || event.origin !== parentOrigin) return;
    const data = event.data || {};
    if (data.type !== "qbosync:session") return;
    applyTheme(data.theme);
    if (typeof data.screen === "string" && SCREENS.some((screen) => screen.id === data.screen)) {
      history.replaceState(null, "", `${window.location.pathname}${window.location.search}#${data.screen}`);
    }
    if (data.reconnect === true) state.reconnect = true;
    if (startSession(String(data.tenant_id || ""), String(data.session || ""))) show();
  });
}

function boot() {
  document.getElementById("menu-toggle").addEventListener("click", (event) => {
    const nav = document.getElementById("nav");
    const open = !nav.classList.contains("open");
    nav.classList.toggle("open", open);
    event.currentTarget.setAttribute("aria-expanded", String(open));
  });
  window.addEventListener("hashchange", () => {
    // A signed-in link opened over an open console arrives as a fragment change, not a page load.
    const handed = embedded ? null : readFragmentSession();
    if (handed) startSession(handed.tenantId, handed.session);
    show();
  });
  if (embedded) {
    document.documentElement.classList.add("embedded");
    if (!parentOrigin) {
      renderSignIn("This console was framed without a valid parent_origin; it will not accept a session.");
      return;
    }
    listenToHost();
    renderSignIn();
    postToHost("ready");
    return;
  }
  const handed = readFragmentSession();
  const stored = storedSession();
  if (handed && startSession(handed.tenantId, handed.session)) show();
  else if (stored && startSession(stored.tenantId, stored.session)) show();
  else renderSignIn();
}

boot();

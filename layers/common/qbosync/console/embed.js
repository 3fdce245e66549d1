// Mount the qbosync console inside a vendor's page:
//
//   <script src="https://<qbosync API>/console/embed.js"></script>
//   const handle = QbosyncConsole.mount(element, {
//     tenantId, session,            // a short-lived admin JWT the vendor's backend hands over
//     screen: "connection",         // optional first screen; reconnect: true lands ready to reconnect
//     theme: { "--qs-accent": "#0b5cff" },
//     onEvent: (name, detail) => {},  // connected, needs_reauth, sync_finished, disconnected, session_expired
//   });
//   handle.setSession(newToken); handle.destroy();
//
// The session goes to the console's iframe by postMessage, addressed to the console's origin only,
// never in a URL; messages are accepted only from that iframe at that origin.
(function () {
  "use strict";
  var script = document.currentScript;
  var consoleUrl = new URL("../console", script.src);
  var consoleOrigin = consoleUrl.origin;

  function mount(target, options) {
    var element = typeof target === "string" ? document.querySelector(target) : target;
    if (!element) throw new Error("QbosyncConsole.mount: no element to mount into");
    if (!options || !options.tenantId || !options.session) throw new Error("QbosyncConsole.mount: tenantId and session are required");
    var current = { session: options.session, theme: options.theme || {} };
    var src = new URL(consoleUrl.href);
    src.searchParams.set("embed", "1");
    src.searchParams.set("parent_origin", window.location.origin);
    var frame = document.createElement("iframe");
    frame.src = src.href;
    frame.title = options.title || "QuickBooks Online integration";
    frame.className = "qbosync-console-frame";
    frame.style.width = "100%";
    frame.style.minHeight = options.height || "720px";
    frame.style.border = "0";
    frame.setAttribute("allow", "");

    function send() {
      frame.contentWindow.postMessage(
        {
          type: "qbosync:session",
          tenant_id: options.tenantId,
          session: current.session,
          theme: current.theme,
          screen: options.screen,
          reconnect: options.reconnect === true,
        },
        consoleOrigin
      );
    }

    function onMessage(event) {
      if (event.source !== frame.contentWindow || event.origin !== consoleOrigin) return;
      var data = event.data || {};
      if (data.type !== "qbosync:event") return;
      if (data.name === "ready") {
        send();
        return;
      }
      if (typeof options.onEvent === "function") options.onEvent(data.name, data.detail || {}, data.tenant_id);
      element.dispatchEvent(new CustomEvent("qbosync", { detail: { name: data.name, detail: data.detail || {}, tenant_id: data.tenant_id } }));
    }

    window.addEventListener("message", onMessage);
    element.appendChild(frame);
    return {
      frame: frame,
      setSession: function (session) {
        current.session = session;
        send();
      },
      setTheme: function (theme) {
        current.theme = theme || {};
        send();
      },
      destroy: function () {
        window.removeEventListener("message", onMessage);
        frame.remove();
      },
    };
  }

  window.QbosyncConsole = { mount: mount };
})();

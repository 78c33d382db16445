/* OpenKAP page shell: the phone menu, the organisation switch and the idle time-out
   warning. Plain script (the CSP allows no inline handlers); every page works without it. */
(function () {
  "use strict";
  var body = document.body;

  // Phone menu: the navigation collapses behind a button on narrow screens.
  var toggle = document.getElementById("menu-toggle");
  var nav = document.getElementById("main-nav");
  if (toggle && nav) {
    document.documentElement.classList.add("js");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", String(!open));
      nav.classList.toggle("open", !open);
    });
  }

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Refreshes that answer with an ETag (the monitoring board): send it back next time; a
  // 304 means nothing shown has changed, so the element is left as it is.
  var etags = {};
  body.addEventListener("htmx:configRequest", function (e) {
    var id = e.detail.elt && e.detail.elt.id;
    if (id && etags[id]) e.detail.headers["If-None-Match"] = etags[id];
  });
  // Before the swap: an outerHTML swap detaches the element, whose later events never
  // reach the body.
  body.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr, id = e.detail.elt && e.detail.elt.id;
    if (!xhr || !id) return;
    if (xhr.status === 304) e.detail.shouldSwap = false;
    else if (xhr.status === 200) etags[id] = xhr.getResponseHeader("ETag") || "";
  });

  // Idle time-out (WCAG 2.2.1): warn before the server signs the user out, let them stay,
  // and clear the page from the screen when the session has ended.
  var timeout = parseInt(body.getAttribute("data-idle-timeout") || "0", 10);
  var statusUrl = body.getAttribute("data-session-url");
  var dialog = document.getElementById("timeout-warning");
  if (!timeout || !statusUrl || !dialog) return;
  var warnFor = Math.min(120, Math.max(20, Math.floor(timeout / 4)));
  var left = document.getElementById("timeout-left");
  var deadline = 0, timer = null, ticker = null;

  function csrfToken() {
    try { return JSON.parse(body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }

  function arm(remaining) {
    deadline = Date.now() + remaining * 1000;
    clearTimeout(timer);
    timer = setTimeout(check, Math.max(0, (remaining - warnFor) * 1000));
  }

  function ask(method) {
    var headers = {"X-Background-Refresh": "1", "Accept": "application/json"};
    if (method === "POST") headers["X-CSRFToken"] = csrfToken();
    // The server answers an expired session with a redirect to the sign-in page.
    return fetch(statusUrl, {method: method, headers: headers, credentials: "same-origin", redirect: "manual"})
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401 || r.status === 403) return {signed_in: false, remaining: 0};
        return r.json();
      });
  }

  function signedOut() {
    // Replace the page (and its history entry) so no patient data stays on screen.
    window.location.replace(body.getAttribute("data-login-url") + "?next=" +
      encodeURIComponent(window.location.pathname));
  }

  // The page's language gives the unit words (data-minute, data-minutes, ... on the dialog).
  function unit(name) { return dialog.getAttribute("data-" + name) || name; }

  function words(seconds) {
    if (seconds >= 60) {
      var m = Math.ceil(seconds / 60);
      return m + " " + unit(m === 1 ? "minute" : "minutes");
    }
    return seconds + " " + unit(seconds === 1 ? "second" : "seconds");
  }

  function countdown() {
    var seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    left.textContent = words(seconds);
    if (seconds <= 0) {
      clearInterval(ticker);
      ask("GET").then(function (s) {
        if (s.signed_in && s.remaining > 0) { close(); arm(s.remaining); } else { signedOut(); }
      }, signedOut);
    }
  }

  function close() {
    clearInterval(ticker);
    if (dialog.open) dialog.close();
  }

  function check() {
    ask("GET").then(function (s) {
      if (!s.signed_in) return signedOut();
      if (s.remaining > warnFor + 5) return arm(s.remaining);  // active in another tab
      deadline = Date.now() + s.remaining * 1000;
      countdown();
      if (!dialog.open) dialog.showModal();
      clearInterval(ticker);
      ticker = setInterval(countdown, 1000);
    }, function () { arm(warnFor); });
  }

  document.getElementById("timeout-stay").addEventListener("click", function () {
    ask("POST").then(function (s) { close(); arm(s.remaining); }, function () { close(); arm(timeout); });
  });
  document.getElementById("timeout-leave").addEventListener("click", function () {
    document.getElementById("sign-out-form").submit();
  });
  // Escape closes a modal dialog; treat it as "stay", not as a silent dismissal.
  dialog.addEventListener("cancel", function (e) {
    e.preventDefault();
    document.getElementById("timeout-stay").click();
  });
  // A request made by the person (not a self-refreshing board) restarts the server's clock.
  body.addEventListener("htmx:afterRequest", function (e) {
    var headers = (e.detail && e.detail.requestConfig && e.detail.requestConfig.headers) || {};
    if (headers["X-Background-Refresh"] !== "1") arm(timeout);
  });
  arm(timeout);
})();

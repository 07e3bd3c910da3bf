/* What the customer portal's scripts share: formatting, busy buttons, errors, action ids. */
(() => {
  "use strict";

  const node = document.getElementById("billport-config");
  const cfg = node ? JSON.parse(node.textContent) : {};
  const locale = cfg.locale || "en";

  function money(minor, currency) {
    const code = (currency || "usd").toUpperCase();
    const format = new Intl.NumberFormat(locale, { style: "currency", currency: code });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format((minor || 0) / 10 ** digits);
  }

  function date(unix) {
    if (!unix) return "";
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(new Date(unix * 1000));
  }

  function showError(target, error) {
    target.textContent = (error && error.message) || String(error);
    target.hidden = false;
  }

  function clearError(target) {
    target.textContent = "";
    target.hidden = true;
  }

  /** Disables `button` while `work` runs, with a label saying what is happening. */
  async function busy(button, label, work) {
    const previous = button.textContent;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = label;
    try {
      return await work();
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = previous;
    }
  }

  function newId() {
    return Array.from(window.crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
  }

  // One id per attempted action, kept across retries: the portal turns it into Stripe
  // idempotency keys, so a repeated click or a network retry acts once.
  const actions = {};
  function actionId(scope) {
    actions[scope] = actions[scope] || newId();
    return actions[scope];
  }
  function actionDone(scope) {
    delete actions[scope];
  }

  function element(tag, attributes, ...children) {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === "class") made.className = value;
      else if (name === "text") made.textContent = value;
      else made.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) made.append(child);
    }
    return made;
  }

  const emit = (event, response, extras) => {
    if (window.BillportChannel) window.BillportChannel.emit(event, response || {}, extras || {});
  };
  const ask = async (event, response, extras) =>
    window.BillportChannel ? window.BillportChannel.ask(event, response || {}, extras || {}) : { proceed: true };
  const api = (path, options) => window.BillportChannel.fetch(path, options);

  window.BillportKit = Object.freeze({
    cfg,
    money,
    date,
    showError,
    clearError,
    busy,
    actionId,
    actionDone,
    element,
    emit,
    ask,
    api,
  });
})();

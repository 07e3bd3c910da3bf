/* Billport widget channel: the iframe's side of the embed protocol (docs/embed-protocol.md),
 * and the widget's way to call Billport with its widget session. */
(() => {
  "use strict";

  const PROTOCOL = 1;
  // After `ready`, how long to wait for embed.js's `hello` before assuming nobody listens.
  const HELLO_WAIT_MS = 2000;
  const ASK_TIMEOUT_MS = 60000;

  function readConfig() {
    const node = document.getElementById("billport-config");
    try {
      const value = node ? JSON.parse(node.textContent || "{}") : {};
      return value && typeof value === "object" ? value : {};
    } catch (error) {
      console.error("Billport: the page's configuration cannot be read", error);
      return {};
    }
  }

  const config = Object.freeze(readConfig());
  const parentOrigin = typeof config.parentOrigin === "string" ? config.parentOrigin : "";
  const frame = typeof config.frame === "string" ? config.frame : "";
  // Without a parent origin (framed directly, or the full-page portal) there is nobody to tell.
  const messaging = Boolean(parentOrigin && frame) && window.parent !== window;

  let connected = false; // embed.js said hello
  let settle;
  const ready = new Promise((resolve) => {
    settle = resolve;
  });
  const pending = new Map(); // ask id → {resolve, timer}
  let nextAskId = 1;

  /** A JSON copy: what crosses to the page is plain data, whatever the caller passed. */
  function plain(value) {
    if (value === undefined) return null;
    try {
      return JSON.parse(JSON.stringify(value));
    } catch {
      return null;
    }
  }

  function post(type, fields) {
    if (!messaging) return false;
    try {
      window.parent.postMessage({ billport: PROTOCOL, frame, type, ...fields }, parentOrigin);
      return true;
    } catch (error) {
      console.error("Billport: a message to the page could not be sent", error);
      return false;
    }
  }

  function onMessage(message) {
    if (!messaging || message.origin !== parentOrigin || message.source !== window.parent) return;
    const data = message.data;
    if (!data || typeof data !== "object" || data.billport !== PROTOCOL || data.frame !== frame) {
      return;
    }
    if (data.type === "hello" && Number.isInteger(data.version) && data.version >= 1) {
      connected = true;
      settle(true);
    } else if (data.type === "answer") {
      const entry = pending.get(data.id);
      if (!entry) return;
      pending.delete(data.id);
      clearTimeout(entry.timer);
      const proceed = data.proceed === true;
      const refusal = typeof data.message === "string" && data.message ? data.message : null;
      entry.resolve({ proceed, message: proceed ? null : refusal || "Stopped by the page." });
    }
  }

  /** Tells the page that something happened (handleResponse, billport:event). */
  function emit(event, response, extras) {
    if (typeof event !== "string" || !event) return;
    post("event", { event, response: plain(response), extras: plain(extras) || {} });
  }

  /** Asks the page whether an action may go ahead: resolves {proceed, message}. */
  async function ask(event, response, extras) {
    if (!messaging) return { proceed: true, message: null };
    await ready;
    if (!connected) return { proceed: true, message: null };
    return new Promise((resolve) => {
      const id = nextAskId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({
          proceed: false,
          message: `The page did not answer ${event} within ${ASK_TIMEOUT_MS / 1000} seconds.`,
        });
      }, ASK_TIMEOUT_MS);
      pending.set(id, { resolve, timer });
      const message = { id, event, response: plain(response), extras: plain(extras) || {} };
      if (!post("ask", message)) {
        clearTimeout(timer);
        pending.delete(id);
        resolve({ proceed: false, message: `${event} could not be sent to the page.` });
      }
    });
  }

  class BillportError extends Error {
    constructor(code, message, status, details) {
      super(message);
      this.name = "BillportError";
      this.code = code;
      this.status = status;
      this.retryable = Boolean(details && details.retryable);
      if (details && details.param) this.param = details.param;
    }
  }

  /**
   * Calls Billport itself with the widget session. `options` are fetch's, plus `json` (a
   * body to send as JSON, POST unless a method is given). Resolves with the parsed JSON (or
   * text); rejects with a BillportError carrying `code` and `message`.
   */
  async function request(path, options = {}) {
    const url = new URL(path, location.href);
    if (url.origin !== location.origin) {
      throw new BillportError("cross_origin", "BillportChannel.fetch only calls Billport.", 0);
    }
    const { json, ...init } = options;
    const headers = new Headers(init.headers || {});
    if (config.session) {
      headers.set(config.sessionHeader || "X-Billport-Widget-Session", config.session);
    }
    if (!headers.has("Accept")) headers.set("Accept", "application/json");
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.method = init.method || "POST";
      headers.set("Content-Type", "application/json");
    }
    let answer;
    try {
      answer = await fetch(url, { ...init, headers, credentials: "same-origin" });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new BillportError(
        "network_error",
        "Billing could not be reached. Check your connection and try again.",
        0,
        { retryable: true },
      );
    }
    const text = await answer.text();
    let body = text || null;
    if (text && (answer.headers.get("Content-Type") || "").includes("json")) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!answer.ok) {
      const error = body && typeof body === "object" && body.error ? body.error : {};
      throw new BillportError(
        typeof error.code === "string" ? error.code : `http_${answer.status}`,
        typeof error.message === "string" ? error.message : `Billing answered ${answer.status}.`,
        answer.status,
        error,
      );
    }
    return body;
  }

  let lastHeight = -1;
  function reportHeight() {
    if (!messaging) return;
    const root = document.documentElement;
    const body = document.body;
    const height = Math.ceil(
      Math.max(root.getBoundingClientRect().height, body ? body.scrollHeight : 0),
    );
    if (height !== lastHeight) {
      lastHeight = height;
      post("resize", { height });
    }
  }

  window.addEventListener("message", onMessage);
  window.BillportChannel = Object.freeze({
    version: PROTOCOL,
    config,
    emit,
    ask,
    fetch: request,
    Error: BillportError,
    /** Resolves true once embed.js said hello, false when no page listens. */
    ready,
  });

  if (!messaging) {
    settle(false);
    return;
  }
  post("ready", {});
  setTimeout(() => settle(connected), HELLO_WAIT_MS);
  reportHeight();
  if (typeof ResizeObserver === "function") {
    const observer = new ResizeObserver(reportHeight);
    observer.observe(document.documentElement);
    if (document.body) observer.observe(document.body);
  }
  window.addEventListener("load", reportHeight);
})();

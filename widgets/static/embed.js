/* Billport embed: turns <div data-billport> elements into widget iframes and relays their
 * events to the page. The messages it exchanges with the iframes: docs/embed-protocol.md.
 * It never throws into the page: problems are logged with console.error. */
(() => {
  "use strict";

  if (window.Billport && window.Billport.version) return; // loaded twice: the first one serves

  const PROTOCOL = 1;
  const INITIAL_HEIGHT = "150px";
  const TITLES = {
    "plan-picker": "Plans",
    checkout: "Checkout",
    signup: "Sign up",
    "customer-portal": "Customer portal",
    invoices: "Invoices",
  };

  const log = (...args) => console.error("Billport:", ...args);

  const script =
    document.currentScript ||
    Array.from(document.querySelectorAll("script[src]")).find((s) =>
      /\/embed\.js(?:[?#]|$)/.test(s.src),
    );
  if (!script) {
    log("cannot find the <script> element that loaded embed.js");
    return;
  }
  const base = script.src.replace(/[?#].*$/, "").replace(/\/embed\.js$/, "");
  const origin = new URL(base).origin;

  const byFrame = new Map(); // frame id → mount, for messages
  const byElement = new WeakMap(); // element → mount, so an element holds one widget
  const live = new Set(); // every mount, to notice elements leaving the document

  const frameId = () =>
    "bpf_" +
    Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");

  const reason = (error) =>
    (error && typeof error.message === "string" && error.message) ||
    (typeof error === "string" && error) ||
    "Stopped by the page.";

  // A handler may be a plain or an async function; a throw and a rejection are the same.
  const call = (handler, payload) => new Promise((resolve) => resolve(handler(payload)));

  function handlersOf(mount) {
    const legacy = mount.legacy ? window.billflowSettings || window.servicebotSettings : null;
    const all = [
      mount.options.handleResponse,
      window.billportSettings && window.billportSettings.handleResponse,
      legacy && legacy.handleResponse,
    ];
    return Array.from(new Set(all.filter((h) => typeof h === "function")));
  }

  /** Runs an event through the page's handlers; a pre_* event waits and may be refused. */
  async function run(mount, event, response, extras) {
    const payload = {
      event,
      response: response === undefined ? null : response,
      extras: extras && typeof extras === "object" ? extras : {},
    };
    try {
      const init = { detail: payload, bubbles: true };
      mount.element.dispatchEvent(new CustomEvent("billport:event", init));
    } catch (error) {
      log(error);
    }
    const handlers = handlersOf(mount);
    if (!event.startsWith("pre_")) {
      for (const handler of handlers) {
        call(handler, payload).catch((error) => log(`handleResponse failed on ${event}:`, error));
      }
      return { proceed: true, message: null };
    }
    for (const handler of handlers) {
      try {
        await call(handler, payload);
      } catch (error) {
        return { proceed: false, message: reason(error) };
      }
    }
    return { proceed: true, message: null };
  }

  function post(mount, type, fields) {
    const target = mount.iframe && mount.iframe.contentWindow;
    if (target) target.postMessage({ billport: PROTOCOL, frame: mount.frame, type, ...fields }, origin);
  }

  function onMessage(message) {
    if (message.origin !== origin) return;
    const data = message.data;
    if (!data || typeof data !== "object" || data.billport !== PROTOCOL) return;
    const mount = typeof data.frame === "string" && byFrame.get(data.frame);
    if (!mount || !mount.iframe || message.source !== mount.iframe.contentWindow) return;
    if (data.type === "ready") {
      post(mount, "hello", { version: PROTOCOL });
      run(mount, "post_load", { widget: mount.options.widget, frame: mount.frame }, {});
    } else if (data.type === "resize") {
      const height = data.height;
      if (typeof height === "number" && height >= 0 && height <= 100000) {
        mount.iframe.style.height = `${Math.ceil(height)}px`;
      }
    } else if (data.type === "event" && typeof data.event === "string") {
      run(mount, data.event, data.response, data.extras);
    } else if (data.type === "ask" && typeof data.event === "string" && Number.isInteger(data.id)) {
      run(mount, data.event, data.response, data.extras).then((verdict) => {
        if (mount.active) post(mount, "answer", { id: data.id, ...verdict });
      });
    }
  }

  function widgetUrl(mount) {
    const o = mount.options;
    const query = new URLSearchParams();
    const add = (name, value) => {
      if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
    };
    add("key", o.key);
    add("token", o.token);
    add("price", o.price);
    add("billing_page", o.billingPage);
    add("currency", o.currency);
    add("locale", o.locale);
    if (mount.legacy) {
      // Billflow's identity: the hash is of the email, or of the customer id without one.
      if (mount.legacy.email) add("email", mount.legacy.email);
      else add("customer_id", mount.legacy.customer_id);
      add("hash", mount.legacy.hash);
    }
    add("origin", location.origin);
    add("frame", mount.frame);
    return `${base}/w/${encodeURIComponent(o.widget)}?${query}`;
  }

  async function start(mount) {
    const o = mount.options;
    if (!o.widget || !o.key) throw new Error("a widget needs a widget name and a key (bp_pub_…)");
    const response = { widget: o.widget, billing_page: o.billingPage || null, price: o.price || null };
    const verdict = await run(mount, "pre_load", response, {});
    if (!mount.active) return;
    if (!verdict.proceed) {
      remove(mount);
      return;
    }
    const iframe = document.createElement("iframe");
    iframe.title = `Billing – ${TITLES[o.widget] || o.widget}`;
    iframe.allow = "payment";
    iframe.style.cssText = `display:block;width:100%;height:${INITIAL_HEIGHT};border:0;`;
    mount.iframe = iframe;
    byFrame.set(mount.frame, mount); // before src is set, so no message can come first
    iframe.src = widgetUrl(mount);
    mount.element.appendChild(iframe);
  }

  function attach(element, options, legacy) {
    detach(element);
    const mount = { element, options, legacy, frame: frameId(), iframe: null, active: true };
    byElement.set(element, mount);
    live.add(mount);
    start(mount).catch((error) => {
      log(error);
      remove(mount);
    });
    return mount;
  }

  function remove(mount) {
    mount.active = false;
    live.delete(mount);
    byFrame.delete(mount.frame);
    if (byElement.get(mount.element) === mount) byElement.delete(mount.element);
    if (mount.iframe) mount.iframe.remove();
    mount.iframe = null;
  }

  function detach(element) {
    const mount = byElement.get(element);
    if (mount) remove(mount);
  }

  function fromAttributes(element) {
    const d = element.dataset;
    return {
      widget: d.billport,
      key: d.key,
      token: d.token,
      price: d.price,
      billingPage: d.billingPage,
      currency: d.currency,
      locale: d.locale,
    };
  }

  /** Billflow's snippet: <div id="billflow-embed"> plus window.billflowSettings. */
  function attachBillflow(element) {
    const settings = window.billflowSettings || window.servicebotSettings;
    if (!settings || !settings.billing_page_id) return;
    // Holds the element while the page is looked up, so it is not attached twice.
    const pending = { element, options: {}, frame: "", active: true };
    byElement.set(element, pending);
    live.add(pending);
    const id = String(settings.billing_page_id);
    fetch(`${base}/embed/billing-pages/${encodeURIComponent(id)}`, { credentials: "omit" })
      .then((answer) => {
        if (!answer.ok) throw new Error(`billing page ${id} was not found (HTTP ${answer.status})`);
        return answer.json();
      })
      .then((page) => {
        if (!pending.active) return;
        const identity = { email: settings.email, customer_id: settings.customer_id };
        attach(element, { widget: page.widget, key: page.key, billingPage: page.id }, {
          ...identity,
          hash: settings.hash,
        });
      })
      .catch((error) => {
        log(error);
        remove(pending);
      });
  }

  function scan(root) {
    if (root.nodeType !== Node.ELEMENT_NODE && root.nodeType !== Node.DOCUMENT_NODE) return;
    const found = Array.from(root.querySelectorAll("[data-billport]"));
    if (root.nodeType === Node.ELEMENT_NODE && root.matches("[data-billport]")) found.unshift(root);
    for (const element of found) {
      if (!byElement.has(element)) attach(element, fromAttributes(element));
    }
    const billflow = root.id === "billflow-embed" ? root : root.querySelector("#billflow-embed");
    if (billflow && !byElement.has(billflow)) attachBillflow(billflow);
  }

  function onMutations(records) {
    try {
      for (const record of records) {
        for (const node of record.removedNodes) {
          for (const mount of live) {
            const gone = !mount.element.isConnected;
            if (gone && (node === mount.element || node.contains(mount.element))) remove(mount);
          }
        }
      }
      for (const record of records) record.addedNodes.forEach(scan);
    } catch (error) {
      log(error);
    }
  }

  function begin() {
    try {
      scan(document);
      new MutationObserver(onMutations).observe(document.documentElement, {
        childList: true,
        subtree: true,
      });
    } catch (error) {
      log(error);
    }
  }

  function toElement(target) {
    const element = typeof target === "string" ? document.querySelector(target) : target;
    if (!element || element.nodeType !== Node.ELEMENT_NODE) {
      throw new TypeError("Billport.mount needs an element (or a selector that finds one)");
    }
    return element;
  }

  window.addEventListener("message", (message) => {
    try {
      onMessage(message);
    } catch (error) {
      log(error);
    }
  });

  window.Billport = Object.freeze({
    version: PROTOCOL,
    /** Shows a widget in `target`; the handle's unmount() removes it again. */
    mount(target, options) {
      try {
        const element = toElement(target);
        const mount = attach(element, { ...options });
        return { element, unmount: () => remove(mount) };
      } catch (error) {
        log(error);
        return { element: null, unmount() {} };
      }
    },
    /** Removes the widget shown in `target`, if any. */
    unmount(target) {
      try {
        detach(toElement(target));
      } catch (error) {
        log(error);
      }
    },
  });

  // Wait for the whole document, so settings defined after this script are seen.
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", begin, { once: true });
  } else {
    begin();
  }
})();

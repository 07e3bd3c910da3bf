/*
 * Stripe.js stand-in served by the Billport sandbox at /v3/.
 *
 * Same entry point and promise results as Stripe.js for card payments, but the card fields
 * are plain inputs in the page (no iframe) and 3D Secure is a sandbox dialog. The API base is
 * the origin (and path) this script was loaded from.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  const scriptUrl = new URL(script ? script.src : "/v3/", location.href);
  const API_BASE = scriptUrl.origin + scriptUrl.pathname.replace(/\/v3\/?$/, "");
  const STYLE_ID = "sandbox-stripe-style";
  let nextId = 0;

  // -- small helpers ---------------------------------------------------------------------------
  function formEncode(value, prefix, pairs = []) {
    if (value === undefined || value === null) return pairs;
    if (Array.isArray(value)) {
      value.forEach((item, index) => formEncode(item, `${prefix}[${index}]`, pairs));
    } else if (typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        formEncode(item, prefix ? `${prefix}[${key}]` : key, pairs);
      }
    } else {
      pairs.push(`${encodeURIComponent(prefix)}=${encodeURIComponent(String(value))}`);
    }
    return pairs;
  }

  function intentPath(clientSecret) {
    const id = String(clientSecret || "").split("_secret_")[0];
    if (id.startsWith("seti_")) return { kind: "setup", path: `/v1/setup_intents/${id}` };
    if (id.startsWith("pi_")) return { kind: "payment", path: `/v1/payment_intents/${id}` };
    return null;
  }

  function integrationError(message) {
    return { error: { type: "invalid_request_error", code: "integration_error", message } };
  }

  function luhn(digits) {
    let total = 0;
    [...digits].reverse().forEach((char, index) => {
      let digit = Number(char);
      if (index % 2) digit = digit > 4 ? digit * 2 - 9 : digit * 2;
      total += digit;
    });
    return total % 10 === 0;
  }

  function cardBrand(digits) {
    if (/^4/.test(digits)) return "visa";
    if (/^(5[1-5]|2[2-7])/.test(digits)) return "mastercard";
    if (/^3[47]/.test(digits)) return "amex";
    if (/^(6011|65|64[4-9])/.test(digits)) return "discover";
    if (/^35/.test(digits)) return "jcb";
    if (/^3[0689]/.test(digits)) return "diners";
    if (/^62/.test(digits)) return "unionpay";
    return "unknown";
  }

  function cardLengths(brand) {
    if (brand === "amex") return [15];
    if (brand === "diners") return [14, 16];
    return [16];
  }

  const BRAND_NAMES = {
    visa: "Visa",
    mastercard: "Mastercard",
    amex: "American Express",
    discover: "Discover",
    jcb: "JCB",
    diners: "Diners Club",
    unionpay: "UnionPay",
  };

  // -- styles: plain, themable through CSS custom properties -------------------------------------
  const CSS = `
.sbx-card { border: 0; margin: 0; padding: 0; min-width: 0; display: grid; gap: 12px;
  grid-template-columns: 1fr 1fr; font-family: var(--sbx-font); color: var(--sbx-text); }
.sbx-card legend { font-weight: 600; margin-bottom: 8px; padding: 0; }
.sbx-card .sbx-visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; }
.sbx-field { display: flex; flex-direction: column; gap: 4px; min-width: 0; }
.sbx-field.sbx-number { grid-column: 1 / -1; }
.sbx-field label { font-size: 0.875rem; font-weight: 500; }
.sbx-input-wrap { position: relative; }
.sbx-field input { box-sizing: border-box; width: 100%; font: inherit; font-size: 1rem;
  padding: calc(var(--sbx-spacing) * 2.5) calc(var(--sbx-spacing) * 3); color: var(--sbx-text);
  background: var(--sbx-background); border: 1px solid #b8bfc9;
  border-radius: var(--sbx-radius); }
.sbx-field input:focus { outline: 2px solid var(--sbx-primary); outline-offset: 1px;
  border-color: var(--sbx-primary); }
.sbx-field input[aria-invalid="true"] { border-color: var(--sbx-danger); }
.sbx-field input:disabled { opacity: 0.6; }
.sbx-brand { position: absolute; right: 10px; top: 50%; transform: translateY(-50%);
  font-size: 0.75rem; font-weight: 700; letter-spacing: 0.04em; color: var(--sbx-primary); }
.sbx-error { color: var(--sbx-danger); font-size: 0.875rem; min-height: 1.25em; margin: 0; }
.sbx-error:empty { min-height: 0; }
.sbx-errors { grid-column: 1 / -1; margin: 0; }
dialog.sbx-3ds { border: 0; border-radius: 10px; padding: 24px; max-width: 380px;
  font-family: system-ui, sans-serif; color: #1a1f36; box-shadow: 0 12px 40px rgba(0,0,0,.3); }
dialog.sbx-3ds::backdrop { background: rgba(20, 24, 36, 0.55); }
dialog.sbx-3ds h2 { font-size: 1.125rem; margin: 0 0 8px; }
dialog.sbx-3ds p { margin: 0 0 20px; line-height: 1.4; }
dialog.sbx-3ds .sbx-actions { display: flex; gap: 10px; flex-wrap: wrap; }
dialog.sbx-3ds button { font: inherit; padding: 10px 16px; border-radius: 6px; cursor: pointer;
  border: 1px solid #635bff; }
dialog.sbx-3ds .sbx-complete { background: #635bff; color: #fff; }
dialog.sbx-3ds .sbx-fail { background: #fff; color: #635bff; }
dialog.sbx-3ds button:focus-visible { outline: 3px solid #1a1f36; outline-offset: 2px; }
`;

  function ensureStyles() {
    if (document.getElementById(STYLE_ID)) return;
    const style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent = CSS;
    document.head.appendChild(style);
  }

  function themeVariables(options) {
    const vars = (options.appearance && options.appearance.variables) || {};
    const base = (options.style && options.style.base) || {};
    const invalid = (options.style && options.style.invalid) || {};
    return {
      "--sbx-primary": vars.colorPrimary || "#635bff",
      "--sbx-text": vars.colorText || base.color || "#1a1f36",
      "--sbx-background": vars.colorBackground || "#ffffff",
      "--sbx-danger": vars.colorDanger || invalid.color || "#c0392b",
      "--sbx-font": vars.fontFamily || base.fontFamily || "system-ui, -apple-system, sans-serif",
      "--sbx-radius": vars.borderRadius || "6px",
      "--sbx-spacing": vars.spacingUnit || "4px",
    };
  }

  // -- the card form -----------------------------------------------------------------------------
  const MESSAGES = {
    incomplete_number: "Your card number is incomplete.",
    invalid_number: "Your card number is invalid.",
    incomplete_expiry: "Your card's expiration date is incomplete.",
    invalid_expiry_month: "Your card's expiration month is invalid.",
    invalid_expiry_year_past: "Your card's expiration year is in the past.",
    invalid_expiry_month_past: "Your card's expiration date is in the past.",
    incomplete_cvc: "Your card's security code is incomplete.",
  };

  function validationError(code) {
    return { type: "validation_error", code, message: MESSAGES[code] };
  }

  class CardElement {
    constructor(group, type, options) {
      this.group = group;
      this.type = type;
      this.options = { ...options };
      this.listeners = {};
      this.container = null;
      this.root = null;
      this.inputs = null;
      this.destroyed = false;
      // Fields the customer has left once: their incomplete values are errors from then on.
      this.touched = new Set();
      this.uid = `sbx-${type}-${++nextId}`;
    }

    on(event, handler) {
      (this.listeners[event] = this.listeners[event] || []).push(handler);
      return this;
    }

    off(event, handler) {
      this.listeners[event] = (this.listeners[event] || []).filter((h) => h !== handler);
      return this;
    }

    once(event, handler) {
      const wrapped = (payload) => {
        this.off(event, wrapped);
        handler(payload);
      };
      return this.on(event, wrapped);
    }

    emit(event, payload) {
      for (const handler of this.listeners[event] || []) handler(payload);
    }

    mount(target) {
      if (this.destroyed) throw new Error("This Element has already been destroyed.");
      const container = typeof target === "string" ? document.querySelector(target) : target;
      if (!container) throw new Error(`The selector you specified (${target}) applies to no DOM elements.`);
      ensureStyles();
      this.container = container;
      this.root = this.render();
      container.appendChild(this.root);
      this.applyOptions();
      setTimeout(() => this.emit("ready", { elementType: this.type }), 0);
    }

    render() {
      const id = this.uid;
      const root = document.createElement("fieldset");
      root.className = "sbx-card";
      const legendText = this.type === "payment" ? "Card" : "Card details";
      const hidden = this.type === "payment" ? "" : ' class="sbx-visually-hidden"';
      root.innerHTML = `
        <legend${hidden}>${legendText}</legend>
        <div class="sbx-field sbx-number">
          <label for="${id}-number">Card number</label>
          <div class="sbx-input-wrap">
            <input id="${id}-number" name="cardnumber" type="text" inputmode="numeric"
              autocomplete="cc-number" placeholder="1234 1234 1234 1234" spellcheck="false"
              aria-describedby="${id}-number-error">
            <span class="sbx-brand" aria-hidden="true"></span>
          </div>
          <p class="sbx-error" id="${id}-number-error" aria-live="polite"></p>
        </div>
        <div class="sbx-field">
          <label for="${id}-expiry">Expiration date (MM / YY)</label>
          <input id="${id}-expiry" name="exp-date" type="text" inputmode="numeric"
            autocomplete="cc-exp" placeholder="MM / YY" spellcheck="false"
            aria-describedby="${id}-expiry-error">
          <p class="sbx-error" id="${id}-expiry-error" aria-live="polite"></p>
        </div>
        <div class="sbx-field">
          <label for="${id}-cvc">Security code (CVC)</label>
          <input id="${id}-cvc" name="cvc" type="text" inputmode="numeric"
            autocomplete="cc-csc" placeholder="CVC" spellcheck="false"
            aria-describedby="${id}-cvc-error">
          <p class="sbx-error" id="${id}-cvc-error" aria-live="polite"></p>
        </div>`;
      const pick = (name) => root.querySelector(`#${id}-${name}`);
      this.inputs = { number: pick("number"), expiry: pick("expiry"), cvc: pick("cvc") };
      this.brandBadge = root.querySelector(".sbx-brand");
      const { number, expiry, cvc } = this.inputs;
      number.addEventListener("input", () => this.formatNumber());
      expiry.addEventListener("input", (event) => this.formatExpiry(event));
      cvc.addEventListener("input", () => {
        cvc.value = cvc.value.replace(/\D/g, "").slice(0, 4);
        this.changed();
      });
      for (const [field, input] of Object.entries(this.inputs)) {
        input.addEventListener("focus", () => this.emit("focus", { elementType: this.type }));
        input.addEventListener("blur", () => {
          this.touched.add(field);
          this.showError(field);
          this.emit("blur", { elementType: this.type });
        });
      }
      return root;
    }

    applyOptions() {
      if (!this.root) return;
      const merged = { ...this.group.options, ...this.options };
      for (const [name, value] of Object.entries(themeVariables(merged))) {
        this.root.style.setProperty(name, value);
      }
      for (const input of Object.values(this.inputs)) input.disabled = Boolean(merged.disabled);
    }

    formatNumber() {
      const input = this.inputs.number;
      let digits = input.value.replace(/\D/g, "");
      const brand = cardBrand(digits);
      digits = digits.slice(0, Math.max(...cardLengths(brand)));
      const groups = brand === "amex" ? [4, 6, 5] : [4, 4, 4, 4, 3];
      const parts = [];
      let rest = digits;
      for (const size of groups) {
        if (!rest) break;
        parts.push(rest.slice(0, size));
        rest = rest.slice(size);
      }
      input.value = parts.join(" ");
      this.brandBadge.textContent = digits && brand !== "unknown" ? BRAND_NAMES[brand] : "";
      this.changed();
    }

    formatExpiry(event) {
      const input = this.inputs.expiry;
      let digits = input.value.replace(/\D/g, "").slice(0, 4);
      if (digits.length === 1 && Number(digits) > 1) digits = `0${digits}`;
      const deleting = event && event.inputType && event.inputType.startsWith("delete");
      if (digits.length > 2 || (digits.length === 2 && !deleting)) {
        input.value = `${digits.slice(0, 2)} / ${digits.slice(2)}`;
      } else {
        input.value = digits;
      }
      this.changed();
    }

    readCard() {
      const number = this.inputs.number.value.replace(/\D/g, "");
      const expiry = this.inputs.expiry.value.replace(/\D/g, "");
      return {
        number,
        exp_month: expiry.slice(0, 2),
        exp_year: expiry.length === 4 ? `20${expiry.slice(2)}` : "",
        cvc: this.inputs.cvc.value.replace(/\D/g, ""),
      };
    }

    fieldErrors() {
      const card = this.readCard();
      const brand = cardBrand(card.number);
      const wanted = cardLengths(brand);
      const errors = {};
      if (!(wanted.includes(card.number.length) && luhn(card.number))) {
        const short = card.number.length < Math.max(...wanted);
        errors.number = validationError(short ? "incomplete_number" : "invalid_number");
      }
      const expiry = this.inputs.expiry.value.replace(/\D/g, "");
      if (expiry.length < 4) {
        errors.expiry = validationError("incomplete_expiry");
      } else {
        const month = Number(card.exp_month);
        const year = Number(card.exp_year);
        const now = new Date();
        if (month < 1 || month > 12) errors.expiry = validationError("invalid_expiry_month");
        else if (year < now.getFullYear()) errors.expiry = validationError("invalid_expiry_year_past");
        else if (year === now.getFullYear() && month < now.getMonth() + 1) {
          errors.expiry = validationError("invalid_expiry_month_past");
        }
      }
      if (card.cvc.length < (brand === "amex" ? 4 : 3)) errors.cvc = validationError("incomplete_cvc");
      return errors;
    }

    showError(field) {
      const input = this.inputs[field];
      const error = this.fieldErrors()[field];
      const typed = input.value.length > 0;
      const visible =
        error && typed && (this.touched.has(field) || error.code.startsWith("invalid"));
      input.setAttribute("aria-invalid", visible ? "true" : "false");
      this.root.querySelector(`#${this.uid}-${field}-error`).textContent = visible ? error.message : "";
    }

    changed() {
      for (const field of Object.keys(this.inputs)) this.showError(field);
      const errors = this.fieldErrors();
      const first = Object.values(errors)[0];
      const empty = Object.values(this.inputs).every((input) => !input.value);
      const shown = Object.values(errors).find((error) => error.code.startsWith("invalid"));
      this.emit("change", {
        elementType: this.type,
        empty,
        complete: !first,
        error: shown,
        brand: cardBrand(this.readCard().number),
        value: this.type === "payment" ? { type: "card" } : {},
      });
    }

    /** Validate for submission: the first error, shown beside its field. */
    validate() {
      if (!this.root) return validationError("incomplete_number");
      const errors = this.fieldErrors();
      for (const field of Object.keys(this.inputs)) {
        const error = errors[field];
        this.inputs[field].setAttribute("aria-invalid", error ? "true" : "false");
        this.root.querySelector(`#${this.uid}-${field}-error`).textContent = error ? error.message : "";
      }
      const first = Object.keys(this.inputs).find((field) => errors[field]);
      if (first) this.inputs[first].focus();
      return first ? errors[first] : null;
    }

    update(options) {
      Object.assign(this.options, options || {});
      this.applyOptions();
    }

    focus() {
      if (this.inputs) this.inputs.number.focus();
    }

    blur() {
      if (this.root && this.root.contains(document.activeElement)) document.activeElement.blur();
    }

    clear() {
      if (!this.inputs) return;
      for (const input of Object.values(this.inputs)) input.value = "";
      this.touched.clear();
      this.brandBadge.textContent = "";
      this.changed();
    }

    unmount() {
      if (this.root) this.root.remove();
      this.root = null;
      this.container = null;
    }

    destroy() {
      this.unmount();
      this.destroyed = true;
      this.group.forget(this);
    }
  }

  class Elements {
    constructor(stripe, options) {
      this.stripe = stripe;
      this.options = { ...options };
      this.elements = new Map();
    }

    create(type, options) {
      if (type !== "card" && type !== "payment") {
        throw new Error(`The sandbox's Stripe.js offers the 'card' and 'payment' elements, not '${type}'.`);
      }
      if (this.elements.has(type)) {
        throw new Error(`Can only create one Element of type ${type}.`);
      }
      const element = new CardElement(this, type, options);
      this.elements.set(type, element);
      return element;
    }

    getElement(type) {
      return this.elements.get(type) || null;
    }

    forget(element) {
      this.elements.delete(element.type);
    }

    update(options) {
      Object.assign(this.options, options || {});
      for (const element of this.elements.values()) element.applyOptions();
    }

    /** The element that collects the card: the Payment Element, else the Card Element. */
    cardElement() {
      return this.elements.get("payment") || this.elements.get("card") || null;
    }

    async submit() {
      const element = this.cardElement();
      if (!element) return integrationError("No Payment Element is mounted.");
      const error = element.validate();
      return error ? { error } : {};
    }
  }

  // -- 3D Secure dialog --------------------------------------------------------------------------
  function askForAuthentication() {
    ensureStyles();
    return new Promise((resolve) => {
      const previous = document.activeElement;
      const dialog = document.createElement("dialog");
      dialog.className = "sbx-3ds";
      dialog.setAttribute("aria-labelledby", "sbx-3ds-title");
      dialog.setAttribute("aria-describedby", "sbx-3ds-text");
      dialog.innerHTML = `
        <h2 id="sbx-3ds-title">Authenticate this payment — Sandbox 3D Secure</h2>
        <p id="sbx-3ds-text">This test card asks for 3D Secure. Choose what the card's bank
          answers; no real bank is contacted.</p>
        <div class="sbx-actions">
          <button type="button" class="sbx-complete">Complete authentication</button>
          <button type="button" class="sbx-fail">Fail authentication</button>
        </div>`;
      const finish = (outcome) => {
        dialog.close();
        dialog.remove();
        if (previous && typeof previous.focus === "function") previous.focus();
        resolve(outcome);
      };
      dialog.querySelector(".sbx-complete").addEventListener("click", () => finish("complete"));
      dialog.querySelector(".sbx-fail").addEventListener("click", () => finish("fail"));
      // Escape closes a modal dialog: for the bank that means the customer gave up.
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        finish("fail");
      });
      document.body.appendChild(dialog);
      dialog.showModal();
      dialog.querySelector(".sbx-complete").focus();
    });
  }

  // -- the Stripe object -------------------------------------------------------------------------
  class SandboxStripe {
    constructor(key, options) {
      if (typeof key !== "string" || !key.startsWith("pk_")) {
        throw new Error("Invalid value for Stripe(): apiKey should be a publishable key (pk_…).");
      }
      this.key = key;
      this.options = options || {};
    }

    async request(method, path, params) {
      const headers = { Authorization: `Bearer ${this.key}` };
      let url = API_BASE + path;
      let body;
      const encoded = formEncode(params || {}, "").join("&");
      if (method === "GET") {
        if (encoded) url += `?${encoded}`;
      } else {
        headers["Content-Type"] = "application/x-www-form-urlencoded";
        body = encoded;
      }
      let response;
      try {
        response = await fetch(url, { method, headers, body });
      } catch (cause) {
        return {
          error: {
            type: "api_connection_error",
            message: "We could not reach the payment service. Please try again.",
          },
        };
      }
      let data;
      try {
        data = await response.json();
      } catch (cause) {
        data = { error: { type: "api_error", message: "An unexpected answer came back." } };
      }
      return response.ok ? { data } : { error: data.error || { type: "api_error", message: "" } };
    }

    elements(options) {
      return new Elements(this, options);
    }

    /** ``payment_method_data`` (or an id) from a card element and billing details. */
    paymentMethodParams(element, billingDetails) {
      const error = element.validate();
      if (error) return { error };
      const data = { type: "card", card: element.readCard() };
      if (billingDetails) data.billing_details = billingDetails;
      return { data };
    }

    async createPaymentMethod(input, legacyElement, legacyData) {
      let element;
      let billingDetails;
      let extra = {};
      if (typeof input === "string") {
        element = legacyElement;
        billingDetails = legacyData && legacyData.billing_details;
      } else if (input && input.elements) {
        element = input.elements.cardElement();
        const params = input.params || {};
        billingDetails = params.billing_details;
        extra = { metadata: params.metadata, allow_redisplay: params.allow_redisplay };
      } else if (input) {
        element = input.card || input.element;
        billingDetails = input.billing_details;
        extra = { metadata: input.metadata };
      }
      if (!(element instanceof CardElement)) {
        return integrationError("createPaymentMethod needs a mounted card or payment Element.");
      }
      const built = this.paymentMethodParams(element, billingDetails);
      if (built.error) return built;
      const result = await this.request("POST", "/v1/payment_methods", { ...built.data, ...extra });
      return result.error ? { error: result.error } : { paymentMethod: result.data };
    }

    /** The confirm parameters for ``payment_method`` given as an id or {card, billing_details}. */
    confirmParams(paymentMethod) {
      if (!paymentMethod) return { params: {} };
      if (typeof paymentMethod === "string") return { params: { payment_method: paymentMethod } };
      const element = paymentMethod.card || paymentMethod.element;
      if (!(element instanceof CardElement)) {
        return integrationError("payment_method needs a card Element or a PaymentMethod id.");
      }
      const built = this.paymentMethodParams(element, paymentMethod.billing_details);
      if (built.error) return built;
      return { params: { payment_method_data: built.data } };
    }

    async confirmIntent(clientSecret, params, options) {
      const target = intentPath(clientSecret);
      if (!target) return integrationError("Invalid value for clientSecret.");
      const result = await this.request("POST", `${target.path}/confirm`, {
        ...params,
        client_secret: clientSecret,
      });
      if (result.error) return { error: result.error };
      if (options && options.handleActions === false) return this.wrap(target.kind, result.data);
      return this.finishActions(target, clientSecret, result.data);
    }

    async finishActions(target, clientSecret, intent) {
      if (intent.status !== "requires_action") return this.wrap(target.kind, intent);
      const outcome = await askForAuthentication();
      const answer = await this.request("POST", `${target.path}/_sandbox_authenticate`, {
        client_secret: clientSecret,
        outcome,
      });
      if (answer.error) return { error: answer.error };
      return this.wrap(target.kind, answer.data);
    }

    wrap(kind, intent) {
      const key = kind === "setup" ? "setupIntent" : "paymentIntent";
      const failed = kind === "setup" ? intent.last_setup_error : intent.last_payment_error;
      if (intent.status === "requires_payment_method" && failed) {
        const objectKey = kind === "setup" ? "setup_intent" : "payment_intent";
        return { error: { ...failed, [objectKey]: intent } };
      }
      return { [key]: intent };
    }

    async confirmCardSetup(clientSecret, data, options) {
      const built = this.confirmParams(data && data.payment_method);
      if (built.error) return built;
      return this.confirmIntent(clientSecret, built.params, options);
    }

    async confirmCardPayment(clientSecret, data, options) {
      const built = this.confirmParams(data && data.payment_method);
      if (built.error) return built;
      const params = { ...built.params };
      if (data && data.setup_future_usage) params.setup_future_usage = data.setup_future_usage;
      if (data && data.receipt_email) params.receipt_email = data.receipt_email;
      return this.confirmIntent(clientSecret, params, options);
    }

    async confirmWithElements(kind, { elements, clientSecret, confirmParams, redirect }) {
      const secret = clientSecret || (elements && elements.options.clientSecret);
      const target = intentPath(secret);
      if (!target || target.kind !== kind) return integrationError("Invalid value for clientSecret.");
      const confirm = { ...(confirmParams || {}) };
      const returnUrl = confirm.return_url;
      if (redirect !== "if_required" && !returnUrl) {
        return integrationError("confirmParams.return_url is required unless redirect is 'if_required'.");
      }
      if (!confirm.payment_method) {
        const element = elements && elements.cardElement();
        if (!element) return integrationError("No Payment Element is mounted.");
        const extra = confirm.payment_method_data || {};
        const built = this.paymentMethodParams(element, extra.billing_details);
        if (built.error) return built;
        confirm.payment_method_data = built.data;
      }
      const result = await this.confirmIntent(secret, confirm);
      if (result.error || redirect === "if_required") return result;
      const intent = result.setupIntent || result.paymentIntent;
      const prefix = kind === "setup" ? "setup_intent" : "payment_intent";
      const url = new URL(returnUrl, location.href);
      url.searchParams.set(prefix, intent.id);
      url.searchParams.set(`${prefix}_client_secret`, secret);
      url.searchParams.set("redirect_status", intent.status === "succeeded" ? "succeeded" : "processing");
      location.assign(url.toString());
      // Stripe.js never resolves once the page is leaving.
      return new Promise(() => {});
    }

    confirmSetup(options) {
      return this.confirmWithElements("setup", options || {});
    }

    confirmPayment(options) {
      return this.confirmWithElements("payment", options || {});
    }

    async retrieve(clientSecret) {
      const target = intentPath(clientSecret);
      if (!target) return integrationError("Invalid value for clientSecret.");
      const result = await this.request("GET", target.path, { client_secret: clientSecret });
      if (result.error) return { error: result.error };
      return { target, intent: result.data };
    }

    async retrieveSetupIntent(clientSecret) {
      const found = await this.retrieve(clientSecret);
      return found.error ? found : { setupIntent: found.intent };
    }

    async retrievePaymentIntent(clientSecret) {
      const found = await this.retrieve(clientSecret);
      return found.error ? found : { paymentIntent: found.intent };
    }

    async handleNextAction({ clientSecret } = {}) {
      const found = await this.retrieve(clientSecret);
      if (found.error) return found;
      return this.finishActions(found.target, clientSecret, found.intent);
    }

    handleCardAction(clientSecret) {
      return this.handleNextAction({ clientSecret });
    }
  }

  window.Stripe = (key, options) => new SandboxStripe(key, options);
  window.Stripe.version = 3;
})();

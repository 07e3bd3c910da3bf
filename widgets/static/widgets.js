/* Billport acquisition widgets: plan picker, checkout and signup (inside the iframe). */
(() => {
  "use strict";

  const configNode = document.getElementById("billport-config");
  if (!configNode) return;
  const cfg = JSON.parse(configNode.textContent);
  const texts = cfg.texts || {};
  const options = cfg.options || {};
  let session = cfg.session;
  let interval = cfg.defaultInterval;
  let chosen = null; // {plan, price}
  let busy = false;

  const $ = (selector) => document.querySelector(selector);
  const $$ = (selector) => Array.from(document.querySelectorAll(selector));
  const channel = () => window.BillportChannel;

  const emit = (event, response, extras) => {
    const ch = channel();
    if (ch) ch.emit(event, response || {}, extras || {});
  };
  const ask = async (event, response, extras) => {
    const ch = channel();
    if (!ch) return { proceed: true };
    return ch.ask(event, response || {}, extras || {});
  };

  // -- talking to the portal ------------------------------------------------------------
  class WidgetError extends Error {
    constructor(message, code, retryable) {
      super(message);
      this.code = code;
      this.retryable = retryable;
    }
  }

  async function api(method, path, body) {
    let answer;
    try {
      answer = await fetch(path, {
        method,
        headers: { "Content-Type": "application/json", [cfg.sessionHeader]: session },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
      });
    } catch (networkError) {
      throw new WidgetError(
        "We could not reach the billing service. Check your connection and try again.",
        "network",
        true,
      );
    }
    let data = {};
    try {
      data = await answer.json();
    } catch (notJson) {
      data = {};
    }
    if (!answer.ok) {
      const error = data.error || {};
      const retryable = Boolean(error.retryable) || answer.status >= 500 || answer.status === 429;
      let message = error.message || "Something went wrong.";
      if (retryable && !/try again/i.test(message)) message += " Please try again.";
      throw new WidgetError(message, error.code || String(answer.status), retryable);
    }
    if (data.session) session = data.session;
    return data;
  }

  // Keeps one id per attempted action across retries and reloads, so the portal (and
  // Stripe, through idempotency keys) sees a repeat rather than a second purchase.
  function actionId(scope) {
    const key = `billport:action:${cfg.widget}:${scope}`;
    try {
      const stored = window.sessionStorage.getItem(key);
      if (stored) return stored;
      const fresh = newId();
      window.sessionStorage.setItem(key, fresh);
      return fresh;
    } catch (storageBlocked) {
      actionId.memory = actionId.memory || {};
      actionId.memory[key] = actionId.memory[key] || newId();
      return actionId.memory[key];
    }
  }
  function forgetAction(scope) {
    const key = `billport:action:${cfg.widget}:${scope}`;
    try {
      window.sessionStorage.removeItem(key);
    } catch (storageBlocked) {
      if (actionId.memory) delete actionId.memory[key];
    }
  }
  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID().replace(/-/g, "");
    return Array.from(window.crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
  }

  // -- formatting -------------------------------------------------------------------------
  function formatMoney(minor, currency) {
    const code = (currency || "usd").toUpperCase();
    let digits = 2;
    try {
      digits = new Intl.NumberFormat(cfg.locale, { style: "currency", currency: code })
        .resolvedOptions().maximumFractionDigits;
    } catch (unknownCurrency) {
      digits = 2;
    }
    return new Intl.NumberFormat(cfg.locale, { style: "currency", currency: code }).format(
      minor / 10 ** digits,
    );
  }

  function planByKey(key) {
    return (cfg.plans || []).find((plan) => plan.key === key);
  }
  function priceById(id) {
    for (const plan of cfg.plans || []) {
      const price = plan.prices.find((p) => p.id === id);
      if (price) return { plan, price };
    }
    return null;
  }
  function licensedPrice(plan) {
    const licensed = plan.prices.filter((p) => !p.metered);
    return licensed.find((p) => p.interval === interval) || licensed[0] || plan.prices[0];
  }

  function showError(node, error) {
    node.textContent = error.message || String(error);
    node.hidden = false;
  }
  function setBusy(button, on, label) {
    busy = on;
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = label || "Working…";
    } else if (button.dataset.label) {
      button.textContent = button.dataset.label;
    }
  }
  function show(node) {
    for (const id of ["#bp-plans", "#bp-checkout", "#bp-change", "#bp-done"]) {
      const other = $(id);
      if (other) other.hidden = other !== node;
    }
    const heading = node.querySelector("[tabindex='-1']");
    if (heading) heading.focus();
  }

  // -- Stripe.js --------------------------------------------------------------------------
  let stripe = null;
  function cardNeeded() {
    if (chosen && chosen.price && chosen.price.amount === 0) return false;
    return options.requireCard || !trialDays();
  }
  function trialDays() {
    if (options.trialDays) return Number(options.trialDays);
    return chosen && chosen.price ? chosen.price.trial_days : null;
  }
  // One Payment Element per form, created when the form first needs it.
  const forms = {};
  function mountCard(fieldId, mountId, errorId, needed) {
    const field = $(fieldId);
    if (!field) return null;
    field.hidden = !needed;
    if (!needed) return null;
    if (forms[mountId]) return forms[mountId];
    if (!cfg.stripeKey || typeof window.Stripe !== "function") {
      showError($(errorId), new Error("Card payments are not set up for this site yet."));
      return null;
    }
    stripe = stripe || window.Stripe(cfg.stripeKey);
    const styles = getComputedStyle(document.documentElement);
    const price = chosen && chosen.price;
    const elements = stripe.elements({
      mode: "subscription",
      amount: price && price.amount ? price.amount : 0,
      currency: price ? price.currency : "usd",
      paymentMethodCreation: "manual",
      appearance: {
        variables: {
          colorPrimary: styles.getPropertyValue("--bp-primary").trim(),
          fontFamily: styles.getPropertyValue("--bp-font").trim(),
          borderRadius: styles.getPropertyValue("--bp-radius").trim(),
        },
      },
    });
    elements.create("payment").mount(mountId);
    forms[mountId] = elements;
    return elements;
  }
  async function paymentMethodFrom(elements, email) {
    if (!stripe || !elements) throw new WidgetError("Card payments are not set up for this site yet.");
    const checked = await elements.submit();
    if (checked.error) throw new WidgetError(checked.error.message, checked.error.code);
    const created = await stripe.createPaymentMethod({
      elements,
      params: email ? { billing_details: { email } } : {},
    });
    if (created.error) throw new WidgetError(created.error.message, created.error.code);
    return created.paymentMethod.id;
  }

  // -- plan picker ------------------------------------------------------------------------
  function selectInterval(next) {
    interval = next;
    for (const button of $$(".bp-interval")) {
      const on = button.dataset.interval === next;
      button.setAttribute("aria-checked", on ? "true" : "false");
      button.tabIndex = on ? 0 : -1;
    }
    for (const node of $$(".bp-price")) {
      const found = priceById(node.dataset.price);
      node.hidden = Boolean(found && !found.price.metered && node.dataset.interval !== next);
    }
  }

  function wirePlanPicker() {
    const radios = $$(".bp-interval");
    radios.forEach((button, index) => {
      button.addEventListener("click", () => selectInterval(button.dataset.interval));
      button.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        const next = radios[(index + step + radios.length) % radios.length];
        selectInterval(next.dataset.interval);
        next.focus();
      });
    });
    if (interval) selectInterval(interval);
    for (const button of $$(".bp-choose")) {
      button.addEventListener("click", () => choosePlan(button.dataset.plan));
    }
    const back = $("#bp-checkout-back");
    if (back) back.addEventListener("click", () => show($("#bp-plans")));
    const changeBack = $("#bp-change-back");
    if (changeBack) changeBack.addEventListener("click", () => show($("#bp-plans")));
    const confirm = $("#bp-change-confirm");
    if (confirm) confirm.addEventListener("click", confirmChange);
  }

  function choosePlan(key) {
    const plan = planByKey(key);
    if (!plan || plan.disabled || busy) return;
    const price = licensedPrice(plan);
    chosen = { plan, price };
    emit("select_plan", { plan: plan.key, name: plan.name, price: price.id, interval: price.interval });
    if (!cfg.identified) {
      let target = null;
      try {
        target = options.ctaUrl ? new URL(options.ctaUrl) : null;
      } catch {
        target = null;
      }
      // Only ever a web page: never a javascript: or data: URL in the tenant's window.
      if (target && (target.protocol === "https:" || target.protocol === "http:")) {
        target.searchParams.set("price", price.id);
        window.open(target.toString(), "_top");
      }
      return;
    }
    if (cfg.current) openChange();
    else openCheckout();
  }

  let changeCard = null;
  async function openChange() {
    const { plan, price } = chosen;
    const preview = $("#bp-change-preview");
    const confirm = $("#bp-change-confirm");
    const error = $("#bp-change-error");
    error.hidden = true;
    confirm.disabled = true;
    $("#bp-change-summary").textContent = `${plan.name}: ${price.label}`;
    changeCard = mountCard(
      "#bp-change-card-field", "#bp-change-card", "#bp-change-error",
      !cfg.current.hasPaymentMethod && price.amount > 0,
    );
    preview.innerHTML = '<span class="bp-spinner" role="progressbar" aria-label="Loading"></span>';
    show($("#bp-change"));
    try {
      const answer = await api("POST", `/w/api/subscriptions/${cfg.current.subscription}/preview`, {
        price: price.id,
        quantity: cfg.current.quantity || 1,
      });
      renderPreview(preview, answer);
      confirm.disabled = false;
    } catch (problem) {
      preview.textContent = "";
      showError(error, problem);
    }
  }

  function renderPreview(node, preview) {
    const table = document.createElement("table");
    for (const line of preview.lines || []) {
      const row = table.insertRow();
      row.insertCell().textContent = line.description || "";
      row.insertCell().textContent = formatMoney(line.amount, preview.currency);
    }
    const total = table.insertRow();
    total.className = "bp-total";
    total.insertCell().textContent = preview.amount_due > 0 ? "Due now" : "Due now (credit applied)";
    total.insertCell().textContent = formatMoney(Math.max(preview.amount_due, 0), preview.currency);
    node.replaceChildren(table);
  }

  async function confirmChange() {
    const button = $("#bp-change-confirm");
    const error = $("#bp-change-error");
    if (busy) return;
    error.hidden = true;
    const { plan, price } = chosen;
    const detail = { subscription: cfg.current.subscription, plan: plan.key, price: price.id };
    setBusy(button, true, "Changing…");
    try {
      const verdict = await ask("pre_change_plan", detail);
      if (!verdict.proceed) throw new WidgetError(verdict.message || "The change was cancelled.");
      const scope = `change:${cfg.current.subscription}:${price.id}`;
      const body = {
        price: price.id,
        quantity: cfg.current.quantity || 1,
        action_id: actionId(scope),
      };
      if (!$("#bp-change-card-field").hidden) body.payment_method = await paymentMethodFrom(changeCard);
      const answer = await api("POST", `/w/api/subscriptions/${cfg.current.subscription}/change`, body);
      if (body.payment_method) cfg.current.hasPaymentMethod = true;
      forgetAction(scope);
      cfg.current.price = price.id;
      markCurrent();
      emit("change_plan", answer.subscription, { plan: plan.key, price: price.id });
      done(`Your plan is now ${plan.name}.`);
    } catch (problem) {
      showError(error, problem);
    } finally {
      setBusy(button, false);
    }
  }

  function markCurrent() {
    for (const node of $$(".bp-plan")) {
      const plan = planByKey(node.dataset.plan);
      const current = Boolean(plan && plan.prices.some((p) => p.id === cfg.current.price));
      node.classList.toggle("bp-plan-current", current);
      const button = node.querySelector(".bp-choose");
      if (button && !plan.disabled) {
        button.disabled = current;
        button.textContent = current ? texts.current_plan : (texts.choose || "Choose {plan}").replace("{plan}", plan.name);
      }
    }
  }

  function done(message) {
    const node = $("#bp-done");
    node.textContent = message;
    node.tabIndex = -1;
    show(node);
    node.focus();
  }

  // -- checkout and signup ----------------------------------------------------------------
  let checkoutCard = null;
  function openCheckout() {
    const { plan, price } = chosen;
    $("#bp-checkout-summary").textContent = `${plan.name}: ${price.label}`;
    const quantity = options.quantity;
    const quantityField = $("#bp-quantity-field");
    if (quantity && quantityField) {
      const input = $("#bp-quantity");
      input.min = quantity.min || 1;
      if (quantity.max) input.max = quantity.max;
      input.step = quantity.step || 1;
      input.value = quantity.min || 1;
      quantityField.hidden = false;
    }
    const coupon = $("#bp-coupon-field");
    if (coupon) coupon.hidden = !options.couponField;
    $("#bp-checkout-error").hidden = true;
    show($("#bp-checkout"));
    checkoutCard = mountCard("#bp-card-field", "#bp-card", "#bp-checkout-error", cardNeeded());
  }

  async function applyCoupon() {
    const input = $("#bp-coupon");
    const result = $("#bp-coupon-result");
    result.classList.remove("bp-hint-error");
    if (!input.value.trim()) return;
    try {
      const answer = await api("POST", "/w/api/promotion-codes/check", { code: input.value });
      const coupon = answer.coupon || {};
      result.textContent = coupon.percent_off
        ? `${answer.code}: ${coupon.percent_off}% off`
        : `${answer.code}: ${formatMoney(coupon.amount_off || 0, coupon.currency)} off`;
      input.setAttribute("aria-invalid", "false");
    } catch (problem) {
      result.textContent = problem.message;
      result.classList.add("bp-hint-error");
      input.setAttribute("aria-invalid", "true");
    }
  }

  async function subscribe(event) {
    event.preventDefault();
    if (busy) return;
    const form = $("#bp-checkout");
    const button = $("#bp-subscribe");
    const error = $("#bp-checkout-error");
    error.hidden = true;
    const select = $("#bp-plan-select");
    if (select) chosen = priceById(select.value) ? { ...priceById(select.value) } : chosen;
    const email = $("#bp-email");
    if (email && !email.checkValidity()) {
      email.setAttribute("aria-invalid", "true");
      email.focus();
      showError(error, new Error("Enter a valid email address."));
      return;
    }
    const quantityInput = $("#bp-quantity");
    const quantity = quantityInput && !$("#bp-quantity-field").hidden ? Number(quantityInput.value) : 1;
    if (quantityInput && !quantityInput.checkValidity()) {
      quantityInput.setAttribute("aria-invalid", "true");
      quantityInput.focus();
      showError(error, new Error(quantityInput.validationMessage || "Check the number of seats."));
      return;
    }
    const { plan, price } = chosen;
    const coupon = $("#bp-coupon");
    const password = $("#bp-password");
    const extras = {};
    if (email) extras.email = email.value;
    if (password && password.value) extras.password = password.value;
    setBusy(button, true, "Subscribing…");
    const scope = `subscribe:${price.id}`;
    try {
      const verdict = await ask("pre_subscribe", { plan: plan.key, price: price.id, quantity }, extras);
      if (!verdict.proceed) throw new WidgetError(verdict.message || "Subscribing was cancelled.");
      let paymentMethod = null;
      if (cardNeeded()) paymentMethod = await paymentMethodFrom(checkoutCard, email && email.value);
      const body = { price: price.id, quantity, action_id: actionId(scope), payment_method: paymentMethod };
      if (coupon && coupon.value.trim() && !$("#bp-coupon-field").hidden) body.promotion_code = coupon.value.trim();
      if (email) body.email = email.value;
      let answer = await api("POST", "/w/api/subscribe", body);
      if (answer.payment_client_secret) {
        const next = await stripe.handleNextAction({ clientSecret: answer.payment_client_secret });
        if (next.error) {
          await api("POST", `/w/api/subscriptions/${answer.subscription.id}/abandon`).catch(() => null);
          forgetAction(scope);
          throw new WidgetError(next.error.message || "The payment was not authenticated.");
        }
        answer = await api("POST", `/w/api/subscriptions/${answer.subscription.id}/complete`);
      }
      forgetAction(scope);
      if (password) password.value = "";
      emit("create_subscription", answer.subscription, extras);
      done(
        answer.subscription.status === "trialing"
          ? `Your ${plan.name} trial has started.`
          : `You are now subscribed to ${plan.name}.`,
      );
    } catch (problem) {
      if (problem.code === "card_declined" || problem.code === "authentication_failed") forgetAction(scope);
      showError(error, problem);
    } finally {
      setBusy(button, false);
    }
  }

  function wireCheckout() {
    const form = $("#bp-checkout");
    if (!form) return;
    form.addEventListener("submit", subscribe);
    const apply = $("#bp-coupon-apply");
    if (apply) apply.addEventListener("click", applyCoupon);
    for (const input of form.querySelectorAll("input")) {
      input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
    }
  }

  // -- start ------------------------------------------------------------------------------
  function start() {
    wireCheckout();
    if (cfg.widget === "plan-picker") {
      wirePlanPicker();
      return;
    }
    const fixed = cfg.price ? priceById(cfg.price) : null;
    const first = (cfg.plans || [])[0];
    const select = $("#bp-plan-select");
    if (fixed) chosen = fixed;
    else if (select && priceById(select.value)) chosen = priceById(select.value);
    else if (first) chosen = { plan: first, price: licensedPrice(first) };
    if (!chosen) {
      showError($("#bp-checkout-error"), new Error(texts.no_plans || "No plans are available yet."));
      $("#bp-subscribe").disabled = true;
      return;
    }
    if (select) {
      select.addEventListener("change", () => {
        chosen = priceById(select.value) || chosen;
        openCheckout();
      });
    }
    openCheckout();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* Customer portal: payment methods, invoices and billing details (also the invoices widget). */
(() => {
  "use strict";

  const kit = window.BillportKit;
  if (!kit) return;
  const { cfg, element: el, money, date } = kit;
  const $ = (id) => document.getElementById(id);
  const API = "/w/api/portal";
  // Other portal scripts listen for this to reload what a payment changed (and vice versa).
  const CHANGED = "billport:portal-changed";

  const BRANDS = {
    visa: "Visa",
    mastercard: "Mastercard",
    amex: "American Express",
    discover: "Discover",
    jcb: "JCB",
    diners: "Diners Club",
    unionpay: "UnionPay",
  };
  const cardName = (card) => `${BRANDS[card.brand] || "Card"} •••• ${card.last4}`;
  const expiry = (card) => `${String(card.exp_month).padStart(2, "0")}/${card.exp_year}`;

  function button(label, onClick, attributes) {
    const secondary = attributes && attributes.secondary;
    const made = el("button", {
      type: "button",
      class: secondary ? "bp-button bp-button-secondary" : "bp-button",
      text: label,
      "aria-describedby": attributes && attributes.describedBy,
    });
    made.addEventListener("click", () => onClick(made));
    return made;
  }

  function announce(node, message) {
    node.textContent = message;
    node.hidden = !message;
  }

  /** Shows `label` on the button while `work` runs; a failure is shown in `errorNode`. */
  async function run(buttonNode, label, errorNode, work) {
    kit.clearError(errorNode);
    try {
      await kit.busy(buttonNode, label, work);
    } catch (error) {
      kit.showError(errorNode, error);
    }
  }

  /** Loading, then `render(data)`, or the error with a "Try again" button. */
  async function loadInto(body, path, render) {
    body.setAttribute("aria-busy", "true");
    body.replaceChildren(
      el("div", { class: "bp-loading", role: "status" }, el("span", { class: "bp-spinner", "aria-hidden": "true" }), " Loading…"),
    );
    try {
      render(await kit.api(path));
    } catch (error) {
      const retry = button("Try again", () => loadInto(body, path, render), { secondary: true });
      body.replaceChildren(el("div", { class: "bp-alert", role: "alert" }, el("p", { class: "bp-error-message", text: error.message }), retry));
    } finally {
      body.removeAttribute("aria-busy");
    }
  }

  function changed() {
    document.dispatchEvent(new CustomEvent(CHANGED, { detail: { source: "payments" } }));
  }

  let stripe = null;
  function stripeJs() {
    if (!cfg.stripeKey || typeof window.Stripe !== "function") {
      throw new Error("Card payments are not set up for this site yet.");
    }
    stripe = stripe || window.Stripe(cfg.stripeKey);
    return stripe;
  }

  // -- paying an invoice ----------------------------------------------------------------------
  /** Pays an open invoice (with `paymentMethod`, else the card on file), 3D Secure included. */
  async function payInvoice(invoice, paymentMethod) {
    const scope = `pay:${invoice.id}:${paymentMethod || "default"}`;
    const body = { action_id: kit.actionId(scope) };
    if (paymentMethod) body.payment_method = paymentMethod;
    let answer;
    try {
      answer = await kit.api(`${API}/invoices/${invoice.id}/pay`, { json: body });
      if (answer.client_secret) {
        const next = await stripeJs().handleNextAction({ clientSecret: answer.client_secret });
        answer = await kit.api(`${API}/invoices/${invoice.id}/refresh`, { method: "POST" });
        if (answer.invoice.status !== "paid") {
          throw new Error((next.error && next.error.message) || "The payment was not authenticated, so the invoice is still open.");
        }
      }
    } catch (error) {
      // A decline or a failed authentication ends this attempt; a network error may be retried.
      if (!error.retryable) kit.actionDone(scope);
      throw error;
    }
    kit.actionDone(scope);
    kit.emit("pay_invoice", answer.invoice, { subscription: invoice.subscription || null });
    changed();
    return answer.invoice;
  }

  // -- payment methods ------------------------------------------------------------------------
  const cardsBody = $("bp-cards-body");
  const cardsNotice = $("bp-cards-notice");
  const addButton = $("bp-card-add");
  const cardForm = $("bp-card-form");
  const cardError = $("bp-card-error");
  const cardNext = $("bp-card-next");
  let cards = [];
  let elements = null;

  function loadCards() {
    return loadInto(cardsBody, `${API}/payment-methods`, (data) => {
      cards = data.payment_methods || [];
      renderCards();
      addButton.hidden = !cardForm.hidden;
    });
  }

  function renderCards() {
    if (!cards.length) {
      cardsBody.replaceChildren(el("p", { class: "bp-muted", text: "No card on file yet." }));
      return;
    }
    cardsBody.replaceChildren(el("ul", { class: "bp-list", role: "list", "aria-label": "Your cards" }, ...cards.map(cardItem)));
  }

  function cardItem(card) {
    const titleId = `bp-card-title-${card.id}`;
    const error = el("div", { class: "bp-alert", role: "alert", hidden: true });
    const actions = el("div", { class: "bp-item-actions" });
    if (!card.default) {
      actions.append(
        button("Make default", (b) => run(b, "Saving…", error, () => makeDefault(card)), { describedBy: titleId }),
        button("Remove", () => confirmRemove(card, actions, error), { secondary: true, describedBy: titleId }),
      );
    }
    return el(
      "li",
      { class: "bp-item", "data-card": card.id },
      el(
        "div",
        { class: "bp-item-head" },
        el("h3", { class: "bp-item-title", id: titleId, text: cardName(card) }),
        card.default ? el("span", { class: "bp-status bp-status-active", text: "Default" }) : null,
      ),
      el("p", { class: "bp-muted", text: `Expires ${expiry(card)}` }),
      actions,
      error,
    );
  }

  async function makeDefault(card) {
    const scope = `default:${card.id}`;
    const answer = await kit.api(`${API}/payment-methods/${card.id}/default`, { json: { action_id: kit.actionId(scope) } });
    kit.actionDone(scope);
    kit.emit("update_payment_method", answer.payment_method, { subscriptions: answer.subscriptions });
    changed();
    await loadCards();
    announce(cardsNotice, `${cardName(card)} is now your default card.`);
  }

  function confirmRemove(card, actions, error) {
    const question = el("p", { class: "bp-notice", tabindex: "-1", text: `Remove ${cardName(card)}? You can add it again later.` });
    const remove = button("Remove card", (b) =>
      run(b, "Removing…", error, async () => {
        await kit.api(`${API}/payment-methods/${card.id}`, { method: "DELETE" });
        await loadCards();
        announce(cardsNotice, `${cardName(card)} was removed.`);
      }),
    );
    const keep = button("Keep card", () => renderCards(), { secondary: true });
    actions.replaceChildren(question, remove, keep);
    question.focus();
  }

  function openCardForm() {
    announce(cardsNotice, "");
    cardNext.hidden = true;
    kit.clearError(cardError);
    cardForm.hidden = false;
    addButton.hidden = true;
    if (!elements) {
      try {
        const styles = getComputedStyle(document.documentElement);
        // Cards only, so no currency is needed to choose which payment methods to offer.
        elements = stripeJs().elements({
          mode: "setup",
          paymentMethodTypes: ["card"],
          appearance: {
            variables: {
              colorPrimary: styles.getPropertyValue("--bp-primary").trim(),
              fontFamily: styles.getPropertyValue("--bp-font").trim(),
              borderRadius: styles.getPropertyValue("--bp-radius").trim(),
            },
          },
        });
        elements.create("payment").mount("#bp-card-element");
      } catch (error) {
        elements = null;
        kit.showError(cardError, error);
      }
    }
    $("bp-card-form-title").focus();
  }

  function closeCardForm() {
    cardForm.hidden = true;
    addButton.hidden = false;
    addButton.focus();
  }

  async function saveCard(event) {
    event.preventDefault();
    if (!elements) return;
    const scope = "add-card";
    await run($("bp-card-save"), "Saving…", cardError, async () => {
      const checked = await elements.submit();
      if (checked.error) throw new Error(checked.error.message);
      // The same action id gives the same SetupIntent, which can be confirmed again after a
      // decline or a failed authentication.
      const setup = await kit.api(`${API}/payment-methods/setup`, { json: { action_id: kit.actionId(scope) } });
      const result = await stripeJs().confirmSetup({ elements, clientSecret: setup.client_secret, redirect: "if_required" });
      if (result.error) throw new Error(result.error.message);
      kit.actionDone(scope);
      const element = elements.getElement("payment");
      if (element) element.clear();
      cardForm.hidden = true;
      await loadCards();
      await offerNextSteps(result.setupIntent.payment_method);
    });
  }

  /** After a card is added: make it the default, and pay what is overdue with it. */
  async function offerNextSteps(paymentMethod) {
    const card = cards.find((found) => found.id === paymentMethod);
    announce(cardsNotice, `${card ? cardName(card) : "Your card"} was added.`);
    addButton.hidden = false;
    const error = el("div", { class: "bp-alert", role: "alert", hidden: true });
    const steps = [];
    // A step is a line and a button; both go once the step is done.
    const step = (text, label, working, work) => {
      const line = el("p", { text });
      const action = button(label, (b) =>
        run(b, working, error, async () => {
          await work();
          line.remove();
          action.remove();
          cardNext.hidden = !cardNext.querySelector("button");
        }),
      );
      steps.push(line, el("div", { class: "bp-item-actions" }, action));
    };
    if (card && !card.default) {
      step(`Use ${cardName(card)} for your subscriptions from now on?`, "Make default", "Saving…", () => makeDefault(card));
    }
    let overdue = [];
    try {
      const data = await kit.api(`${API}/invoices`);
      overdue = (data.invoices || []).filter((invoice) => invoice.status === "open" && invoice.subscription);
    } catch {
      overdue = [];
    }
    for (const invoice of overdue) {
      const owed = money(invoice.amount_remaining, invoice.currency);
      step(`Invoice ${invoice.number || ""} for ${owed} is still unpaid.`, "Pay the open invoice now with this card", "Paying…", async () => {
        const paid = await payInvoice(invoice, paymentMethod);
        announce(cardsNotice, `Invoice ${paid.number || ""} is paid. Thank you!`);
        if (invoicesBody) await loadInvoices();
      });
    }
    cardNext.replaceChildren(...steps, error);
    cardNext.hidden = !steps.length;
  }

  // -- invoices ---------------------------------------------------------------------------------
  const invoicesBody = $("bp-invoices-body");
  const invoicesError = $("bp-invoices-error");
  const invoicesNotice = $("bp-invoices-notice");
  const STATUS = { paid: "Paid", open: "Due", void: "Void", uncollectible: "Uncollectible" };

  function loadInvoices() {
    return loadInto(invoicesBody, `${API}/invoices`, (data) => renderInvoices(data.invoices || []));
  }

  function renderInvoices(invoices) {
    if (!invoices.length) {
      invoicesBody.replaceChildren(el("p", { class: "bp-muted", text: "No invoices yet." }));
      return;
    }
    const head = el("tr", {}, ...["Number", "Date", "Amount", "Status"].map((name) => el("th", { scope: "col", text: name })));
    head.append(el("th", { scope: "col" }, el("span", { class: "bp-visually-hidden", text: "Actions" })));
    invoicesBody.replaceChildren(
      el(
        "table",
        { class: "bp-table" },
        el("caption", { class: "bp-visually-hidden", text: "Your invoices, newest first" }),
        el("thead", {}, head),
        el("tbody", {}, ...invoices.map(invoiceRow)),
      ),
    );
  }

  /** A link opening in a new tab; `hidden` completes its name for screen readers. */
  function newTabLink(text, href, hidden) {
    if (!href) return null;
    const more = el("span", { class: "bp-visually-hidden", text: ` ${hidden} (opens in a new tab)` });
    return el("a", { class: "bp-link", href, target: "_blank", rel: "noopener" }, text, more);
  }

  function invoiceRow(invoice) {
    const number = invoice.number || invoice.id;
    const numberId = `bp-invoice-${invoice.id}`;
    const actions = el(
      "td",
      {},
      newTabLink("View", invoice.hosted_invoice_url, `invoice ${number}`),
      el("span", { class: "bp-muted", "aria-hidden": "true", text: " · " }),
      newTabLink("PDF", invoice.invoice_pdf, `of invoice ${number}`),
      " ",
    );
    if (invoice.status === "open") {
      const pay = async () => {
        announce(invoicesNotice, "");
        const paid = await payInvoice(invoice, null);
        await loadInvoices();
        announce(invoicesNotice, `Invoice ${paid.number || number} is paid. Thank you!`);
      };
      actions.append(button("Pay", (b) => run(b, "Paying…", invoicesError, pay), { describedBy: numberId }));
    }
    return el(
      "tr",
      { "data-invoice": invoice.id },
      el("th", { scope: "row", id: numberId, text: number }),
      el("td", { text: date(invoice.created) }),
      el("td", { class: "bp-amount", text: money(invoice.total, invoice.currency) }),
      el("td", {}, el("span", { class: `bp-status bp-status-${invoice.status}`, text: STATUS[invoice.status] || invoice.status })),
      actions,
    );
  }

  // -- billing details --------------------------------------------------------------------------
  const detailsForm = $("bp-details-form");
  const detailsStatus = $("bp-details-status");
  const detailsError = $("bp-details-error");
  const detailsSaved = $("bp-details-saved");
  const field = (param) => detailsForm.querySelector(`[name="${param}"]`);
  let taxIds = [];
  let taxTypes = [];

  function loadDetails() {
    return loadInto(detailsStatus, `${API}/details`, (data) => {
      fillDetails(data);
      detailsStatus.replaceChildren();
      detailsForm.hidden = false;
    });
  }

  function fillOptions(select, entries) {
    const first = select.options[0];
    select.replaceChildren(first, ...entries.map(([value, label]) => el("option", { value, text: label })));
  }

  function fillDetails(data) {
    if (data.countries) {
      const names = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames([cfg.locale || "en"], { type: "region" }) : null;
      const entries = data.countries.map((code) => [code, (names && names.of(code)) || code]);
      entries.sort((a, b) => a[1].localeCompare(b[1], cfg.locale || "en"));
      fillOptions(field("address.country"), entries);
    }
    if (data.tax_id_types) {
      taxTypes = data.tax_id_types;
      fillOptions(field("tax_id.type"), taxTypes.map((type) => [type.type, type.label]));
    }
    const address = data.address || {};
    field("name").value = data.name || "";
    field("phone").value = data.phone || "";
    for (const part of ["line1", "line2", "city", "postal_code", "state", "country"]) {
      field(`address.${part}`).value = address[part] || "";
    }
    $("bp-details-email").textContent = data.email || "";
    $("bp-details-email-line").hidden = !data.email;
    // null: Stripe would not list them (a restricted key); a tax ID can still be added.
    taxIds = data.tax_ids;
    const current = (taxIds || [])[0];
    field("tax_id.type").value = current ? current.type : "";
    field("tax_id.value").value = current ? current.value : "";
    describeTaxType();
  }

  function describeTaxType() {
    const chosen = taxTypes.find((type) => type.type === field("tax_id.type").value);
    const unknown = taxIds === null ? "Your saved tax IDs could not be loaded. " : "";
    $("bp-details-tax-value-hint").textContent = unknown + (chosen ? `For example ${chosen.example}` : "");
  }

  function clearFieldErrors() {
    for (const input of detailsForm.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    for (const slot of detailsForm.querySelectorAll(".bp-hint-error")) slot.textContent = "";
  }

  function fieldError(input, message) {
    $(`${input.id}-error`).textContent = message;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  /** The tax ID part of the request: left out when unchanged, null to remove it. */
  function taxIdChange() {
    const type = field("tax_id.type").value;
    const value = field("tax_id.value").value.trim();
    const current = (taxIds || [])[0];
    // Emptied: remove the saved one (unknown ones are left alone).
    if (!type && !value) return current ? null : undefined;
    if (current && current.type === type && current.value === value) return undefined;
    return { type, value };
  }

  async function saveDetails(event) {
    event.preventDefault();
    clearFieldErrors();
    kit.clearError(detailsError);
    detailsSaved.textContent = "";
    for (const input of detailsForm.querySelectorAll("[required]")) {
      if (!input.value.trim()) {
        const label = detailsForm.querySelector(`label[for="${input.id}"]`).textContent;
        fieldError(input, input.tagName === "SELECT" ? `Choose a ${label.toLowerCase()}.` : `${label} is required.`);
        return;
      }
    }
    if (field("tax_id.value").value.trim() && !field("tax_id.type").value) {
      fieldError(field("tax_id.type"), "Choose the type of your tax ID.");
      return;
    }
    const scope = "details";
    const address = {};
    for (const part of ["line1", "line2", "city", "postal_code", "state", "country"]) {
      address[part] = field(`address.${part}`).value;
    }
    const body = { action_id: kit.actionId(scope), name: field("name").value, phone: field("phone").value, address };
    const taxId = taxIdChange();
    if (taxId !== undefined) body.tax_id = taxId;
    await kit.busy($("bp-details-save"), "Saving…", async () => {
      try {
        const saved = await kit.api(`${API}/details`, { json: body });
        kit.actionDone(scope);
        fillDetails(saved);
        detailsSaved.textContent = "Billing details saved.";
      } catch (error) {
        if (!error.retryable) kit.actionDone(scope);
        const input = error.param && field(error.param);
        if (input) fieldError(input, error.message);
        else kit.showError(detailsError, error);
      }
    });
  }

  // -- start ------------------------------------------------------------------------------------
  function start() {
    if (cardsBody) {
      addButton.addEventListener("click", openCardForm);
      $("bp-card-cancel").addEventListener("click", closeCardForm);
      cardForm.addEventListener("submit", saveCard);
      loadCards();
    }
    if (invoicesBody) loadInvoices();
    if (detailsForm) {
      detailsForm.addEventListener("submit", saveDetails);
      detailsForm.addEventListener("input", (event) => {
        event.target.removeAttribute("aria-invalid");
        const slot = $(`${event.target.id}-error`);
        if (slot) slot.textContent = "";
      });
      field("tax_id.type").addEventListener("change", describeTaxType);
      loadDetails();
    }
    document.addEventListener(CHANGED, (event) => {
      if (event.detail && event.detail.source === "payments") return;
      if (cardsBody) loadCards();
      if (invoicesBody) loadInvoices();
    });
  }

  // The subscriptions panel pays past-due invoices the same way (3D Secure, event, reloads).
  window.BillportPayments = Object.freeze({ payInvoice });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

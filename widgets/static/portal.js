/* Customer portal: tabs, and the Subscriptions panel (plan changes, cancel, resume, usage). */
(() => {
  "use strict";

  const kit = window.BillportKit;
  if (!kit) return;
  const { element: el, money, date } = kit;
  const options = kit.cfg.options || {};
  const root = document.getElementById("bp-subscriptions");
  let reasons = {};

  // -- tabs (WAI-ARIA tabs pattern: arrows move, Home/End jump) ----------------------------
  function wireTabs() {
    const tabs = Array.from(document.querySelectorAll(".bp-tab"));
    const select = (tab, focus) => {
      for (const other of tabs) {
        const on = other === tab;
        other.setAttribute("aria-selected", on ? "true" : "false");
        other.tabIndex = on ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
    };
    tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
      });
    });
  }

  // -- loading -------------------------------------------------------------------------------
  const base = "/w/api/portal/subscriptions";
  const withLocale = (path) => `${path}?locale=${encodeURIComponent(kit.cfg.locale || "en")}`;

  async function load() {
    root.setAttribute("aria-busy", "true");
    try {
      const data = await kit.api(withLocale(base));
      reasons = data.reasons || {};
      render(data.subscriptions || []);
    } catch (error) {
      const retry = el("button", { type: "button", class: "bp-button bp-button-secondary", text: "Try again" });
      retry.addEventListener("click", load);
      root.replaceChildren(el("div", { class: "bp-alert", role: "alert", text: error.message }), retry);
    } finally {
      root.removeAttribute("aria-busy");
    }
  }

  function render(subscriptions) {
    if (!subscriptions.length) {
      root.replaceChildren(el("p", { class: "bp-muted", text: "You have no subscriptions yet." }));
      return;
    }
    root.replaceChildren(el("ul", { class: "bp-list", role: "list" }, ...subscriptions.map(card)));
  }

  const STATUS = {
    active: "Active",
    trialing: "Trial",
    past_due: "Past due",
    canceled: "Ended",
    incomplete: "Incomplete",
    incomplete_expired: "Expired",
    unpaid: "Unpaid",
    paused: "Paused",
  };
  const live = (sub) => !["canceled", "incomplete_expired"].includes(sub.status);

  function card(sub) {
    const facts = el("dl", { class: "bp-facts" });
    const fact = (term, value) => value && facts.append(el("dt", { text: term }), el("dd", { text: value }));
    fact("Price", sub.price_label);
    if (sub.quantity > 1 || options.quantity) fact("Seats", String(sub.quantity));
    if (sub.trial_end) fact("Trial ends", date(sub.trial_end));
    if (live(sub) && sub.cancel_at_period_end) fact("Ends on", date(sub.current_period_end));
    else if (live(sub) && sub.cancel_at) fact("Ends on", date(sub.cancel_at));
    else if (live(sub) && sub.current_period_end) fact("Renews on", date(sub.current_period_end));
    if (sub.ended_at && !live(sub)) fact("Ended on", date(sub.ended_at));
    if (sub.next_invoice) {
      fact("Next invoice", `${money(sub.next_invoice.amount_due, sub.next_invoice.currency)} on ${date(sub.next_invoice.date)}`);
    }
    if (sub.card) fact("Card", `${sub.card.brand || "Card"} •••• ${sub.card.last4}`);

    const item = el(
      "li",
      { class: "bp-item", "data-subscription": sub.id },
      el(
        "div",
        { class: "bp-item-head" },
        el("h2", { class: "bp-item-title", text: sub.plan }),
        el("span", { class: `bp-status bp-status-${sub.status}`, text: STATUS[sub.status] || sub.status }),
      ),
      facts,
    );
    for (const use of sub.usage || []) {
      item.append(
        el("p", {
          class: "bp-usage",
          text: `${use.name} this period: ${use.quantity_label} × ${use.unit}, ${use.cost_label} so far (${use.price_label})`,
        }),
      );
    }
    const error = el("div", { class: "bp-alert", role: "alert", hidden: true });
    const actions = el("div", { class: "bp-item-actions" });
    const panel = el("div", { class: "bp-item-panel" });

    if (sub.status === "past_due" && sub.open_invoice) {
      item.append(el("p", { class: "bp-notice", text: `Your last payment of ${money(sub.open_invoice.amount_due, sub.open_invoice.currency)} failed.` }));
      actions.append(button("Pay now", (b) => payNow(sub, b, error)));
    }
    if (sub.pending_change) {
      const change = sub.pending_change;
      item.append(el("p", { class: "bp-notice", text: `Changes to ${change.plan} (${change.price_label}) on ${date(change.date)}.` }));
      actions.append(button(`Keep ${sub.plan}`, (b) => keepPlan(sub, b, error), true));
    }
    if (live(sub) && (sub.cancel_at_period_end || sub.cancel_at)) {
      item.append(el("p", { class: "bp-notice", text: `Your subscription ends on ${date(sub.cancel_at || sub.current_period_end)}.` }));
      actions.append(button("Keep my subscription", (b) => resume(sub, b, error, "undo")));
      if (options.change_canceled && sub.plans.length > 1) {
        actions.append(button("Change plan", () => openChange(sub, panel, error), true));
      }
    } else if (live(sub)) {
      if (options.allow_plan_change !== false && sub.plans.length > 1) {
        actions.append(button("Change plan", () => openChange(sub, panel, error), true));
      } else if (options.allow_plan_change !== false && options.quantity) {
        actions.append(button("Change seats", () => openChange(sub, panel, error), true));
      }
      if (options.allow_cancel !== false) {
        actions.append(button("Cancel subscription", () => openCancel(sub, panel, error), true));
      }
    } else if (options.allow_resubscribe !== false) {
      actions.append(button("Subscribe again", (b) => resume(sub, b, error, "again")));
    }
    item.append(actions, panel, error);
    return item;
  }

  function button(label, onClick, secondary) {
    const made = el("button", { type: "button", class: secondary ? "bp-button bp-button-secondary" : "bp-button", text: label });
    made.addEventListener("click", () => onClick(made));
    return made;
  }

  async function run(buttonNode, label, error, work) {
    kit.clearError(error);
    try {
      await kit.busy(buttonNode, label, work);
    } catch (problem) {
      kit.showError(error, problem);
    }
  }

  // -- change plan or seats ----------------------------------------------------------------
  function openChange(sub, panel, error) {
    const choices = el("fieldset", { class: "bp-fieldset" }, el("legend", { text: "Plan" }));
    for (const choice of sub.plans) {
      const id = `bp-choice-${sub.id}-${choice.id}`;
      const radio = el("input", { type: "radio", name: `plan-${sub.id}`, id, value: choice.id, checked: choice.id === sub.price });
      choices.append(el("label", { class: "bp-radio", for: id }, radio, `${choice.plan} — ${choice.label}`));
    }
    const seatsId = `bp-seats-${sub.id}`;
    const seats = el("input", { type: "number", id: seatsId, min: (options.quantity || {}).min || 1, max: (options.quantity || {}).max || null, step: (options.quantity || {}).step || 1, value: sub.quantity });
    const preview = el("div", { class: "bp-preview", "aria-live": "polite" });
    const confirm = el("button", { type: "button", class: "bp-button", text: "Confirm change", disabled: true });
    const form = el("div", { class: "bp-change" }, el("h3", { class: "bp-section-title", text: "Change plan", tabindex: "-1" }));
    if (sub.plans.length > 1) form.append(choices);
    if (options.quantity) form.append(el("div", { class: "bp-field" }, el("label", { for: seatsId, text: "Seats" }), seats));
    form.append(preview, el("div", { class: "bp-actions" }, button("Back", () => panel.replaceChildren(), true), confirm));
    panel.replaceChildren(form);
    form.querySelector("h3").focus();

    const chosen = () => {
      const picked = form.querySelector(`input[name="plan-${sub.id}"]:checked`);
      return { price: picked ? picked.value : sub.price, quantity: Number(seats.value) || sub.quantity };
    };
    let asked = 0;
    let shown = "";
    let previewed = {};
    const refresh = async () => {
      const wanted = chosen();
      // Leaving the Seats field to click Confirm fires "change" again: same choice, no reload.
      if (JSON.stringify(wanted) === shown) return;
      shown = JSON.stringify(wanted);
      confirm.disabled = true;
      if (wanted.price === sub.price && wanted.quantity === sub.quantity) {
        preview.replaceChildren();
        return;
      }
      const mine = ++asked;
      preview.replaceChildren(el("span", { class: "bp-spinner", role: "progressbar", "aria-label": "Loading" }));
      try {
        const answer = await kit.api(withLocale(`${base}/${sub.id}/preview`), { json: wanted });
        if (mine !== asked) return;
        previewed = answer;
        preview.replaceChildren(previewTable(answer));
        confirm.disabled = false;
      } catch (problem) {
        if (mine !== asked) return;
        shown = "";
        preview.replaceChildren();
        kit.showError(error, problem);
      }
    };
    form.addEventListener("change", refresh);
    confirm.addEventListener("click", () =>
      run(confirm, "Changing…", error, async () => {
        const wanted = chosen();
        const verdict = await kit.ask("pre_change_plan", { subscription: sub.id, ...wanted });
        if (!verdict.proceed) throw new Error(verdict.message || "The change was cancelled.");
        const scope = `change:${sub.id}:${wanted.price}:${wanted.quantity}`;
        const answer = await kit.api(`${base}/${sub.id}/change`, { json: { ...wanted, action_id: kit.actionId(scope) } });
        kit.actionDone(scope);
        kit.emit("change_plan", answer.subscription, { ...wanted, starts_at: previewed.starts_at || null });
        await load();
      }),
    );
  }

  function previewTable(preview) {
    if (preview.starts_at) {
      return el("p", { text: `The new plan starts on ${date(preview.starts_at)}, when your current period ends. Nothing is charged now.` });
    }
    const table = el("table", { class: "bp-table" });
    for (const line of preview.lines || []) {
      const row = table.insertRow();
      row.insertCell().textContent = line.description || "";
      const amount = row.insertCell();
      amount.className = "bp-amount";
      amount.textContent = money(line.amount, preview.currency);
    }
    const total = table.insertRow();
    total.className = "bp-total";
    total.insertCell().textContent = preview.immediate ? "Due now" : "Added to your next invoice";
    const amount = total.insertCell();
    amount.className = "bp-amount";
    amount.textContent = money(Math.max(preview.amount_due || 0, 0), preview.currency);
    return table;
  }

  // -- cancel, with reasons and the retention offer -----------------------------------------
  function openCancel(sub, panel, error) {
    const reasonSet = el("fieldset", { class: "bp-fieldset" }, el("legend", { text: "Why are you cancelling?" }));
    for (const [value, label] of Object.entries(reasons)) {
      const id = `bp-reason-${sub.id}-${value}`;
      reasonSet.append(el("label", { class: "bp-radio", for: id }, el("input", { type: "radio", name: `reason-${sub.id}`, id, value }), label));
    }
    const commentId = `bp-comment-${sub.id}`;
    const comment = el("textarea", { id: commentId, rows: "3", maxlength: "500" });
    const confirm = el("button", { type: "button", class: "bp-button", text: "Cancel subscription" });
    const form = el(
      "div",
      { class: "bp-change" },
      el("h3", { class: "bp-section-title", text: "Cancel subscription", tabindex: "-1" }),
      reasonSet,
      el("div", { class: "bp-field" }, el("label", { for: commentId, text: "Anything else we should know? (optional)" }), comment),
      el("div", { class: "bp-actions" }, button("Back", () => panel.replaceChildren(), true), confirm),
    );
    panel.replaceChildren(form);
    form.querySelector("h3").focus();
    confirm.addEventListener("click", () => {
      const picked = form.querySelector(`input[name="reason-${sub.id}"]:checked`);
      const details = { reason: picked ? picked.value : null, comment: comment.value || null };
      if (sub.retention_offer) offer(sub, panel, error, details);
      else run(confirm, "Cancelling…", error, () => cancel(sub, details));
    });
  }

  function offer(sub, panel, error, details) {
    const accept = el("button", { type: "button", class: "bp-button", text: "Accept offer" });
    const decline = el("button", { type: "button", class: "bp-button bp-button-secondary", text: "No thanks, cancel" });
    const box = el(
      "div",
      { class: "bp-change", role: "region", "aria-labelledby": `bp-offer-${sub.id}` },
      el("h3", { class: "bp-section-title", id: `bp-offer-${sub.id}`, text: "Before you go", tabindex: "-1" }),
      el("p", { text: sub.retention_offer.message }),
      el("div", { class: "bp-actions" }, decline, accept),
    );
    panel.replaceChildren(box);
    box.querySelector("h3").focus();
    accept.addEventListener("click", () =>
      run(accept, "Applying…", error, async () => {
        const scope = `offer:${sub.id}`;
        await kit.api(`${base}/${sub.id}/accept-offer`, { json: { action_id: kit.actionId(scope) } });
        kit.actionDone(scope);
        await load();
      }),
    );
    decline.addEventListener("click", () =>
      run(decline, "Cancelling…", error, () => cancel(sub, details)),
    );
  }

  async function cancel(sub, details) {
    const scope = `cancel:${sub.id}`;
    const answer = await kit.api(`${base}/${sub.id}/cancel`, { json: { ...details, action_id: kit.actionId(scope) } });
    kit.actionDone(scope);
    kit.emit("cancel_subscription", answer.subscription, details);
    await load();
  }

  // -- resume: undo a pending cancel, or subscribe again after the end ---------------------
  async function resume(sub, buttonNode, error, kind) {
    await run(buttonNode, kind === "undo" ? "Keeping…" : "Subscribing…", error, async () => {
      const verdict = await kit.ask("pre_resubscribe", { subscription: sub.id, price: sub.price });
      if (!verdict.proceed) throw new Error(verdict.message || "Cancelled.");
      const scope = `resume:${sub.id}`;
      const answer = await kit.api(`${base}/${sub.id}/resume`, { json: { action_id: kit.actionId(scope) } });
      kit.actionDone(scope);
      kit.emit("resubscribe", answer.subscription, { previous: sub.id });
      await load();
    });
  }

  async function keepPlan(sub, buttonNode, error) {
    await run(buttonNode, "Keeping…", error, async () => {
      const answer = await kit.api(`${base}/${sub.id}/keep-plan`, { method: "POST" });
      kit.emit("change_plan", answer.subscription, { kept: true });
      await load();
    });
  }

  // -- past due: retry the open invoice with the card on file -------------------------------
  // The payments script pays (with 3D Secure when the bank asks) and emits pay_invoice.
  async function payNow(sub, buttonNode, error) {
    await run(buttonNode, "Paying…", error, async () => {
      await window.BillportPayments.payInvoice({ ...sub.open_invoice, subscription: sub.id }, null);
    });
  }

  function start() {
    wireTabs();
    if (!root) return;
    load();
    // A card added or an invoice paid in another panel can change what subscriptions show.
    document.addEventListener("billport:portal-changed", () => load());
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

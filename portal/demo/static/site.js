// Acme Notes: shows what Billport reports, in the browser and to the server.
(function () {
  "use strict";
  var KEY = "acme-events";

  function stored() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }

  function summary(response) {
    if (!response) return "";
    if (response.object === "subscription") {
      var tier = (response.metadata || {}).tier || "";
      return "subscription " + response.status + (tier ? " · " + tier : "");
    }
    if (response.object === "invoice") return "invoice " + response.status;
    if (response.object === "payment_method") return "card " + ((response.card || {}).last4 || "");
    return response.object || "";
  }

  function item(title, detail, time) {
    var li = document.createElement("li");
    var strong = document.createElement("strong");
    strong.textContent = title;
    var span = document.createElement("span");
    span.textContent = detail;
    var when = document.createElement("time");
    when.textContent = new Date(time).toLocaleTimeString();
    li.append(strong, span, when);
    return li;
  }

  function renderEvents() {
    var list = document.getElementById("events");
    if (!list) return;
    var events = stored();
    if (!events.length) return;
    list.replaceChildren.apply(list, events.map(function (e) { return item(e.event, e.summary, e.at); }));
  }

  window.billportSettings = {
    handleResponse: function (payload) {
      // Every widget reports pre_load/post_load; the panel keeps to what users did.
      if (payload.event === "pre_load" || payload.event === "post_load") return;
      var events = stored();
      events.unshift({ event: payload.event, summary: summary(payload.response), at: Date.now() });
      sessionStorage.setItem(KEY, JSON.stringify(events.slice(0, 50)));
      renderEvents();
      // A new customer from the signup widget: Acme Notes signs them in, then shows the account.
      if (payload.event === "create_subscription" && document.body.dataset.page !== "account") {
        fetch("/session", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            customer_id: payload.response.customer,
            email: (payload.extras || {}).email,
          }),
        }).then(function () { setTimeout(function () { location.href = "/account"; }, 1200); });
      }
    },
  };

  function pollCallbacks() {
    var list = document.getElementById("callbacks");
    if (!list) return;
    fetch("/callbacks.json").then(function (r) { return r.json(); }).then(function (data) {
      if (data.callbacks.length) {
        list.replaceChildren.apply(list, data.callbacks.map(function (c) {
          return item(c.event, (c.verified ? "✓ signature · " : "") + c.summary, c.created * 1000);
        }));
      }
    }).catch(function () { /* the next poll tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderEvents();
    pollCallbacks();
    setInterval(pollCallbacks, 2000);
    document.querySelectorAll("[data-days]").forEach(function (button) {
      button.addEventListener("click", function () {
        var status = document.getElementById("clock");
        button.disabled = true;
        status.textContent = "Moving the clock…";
        fetch("/time-machine", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ days: Number(button.dataset.days) }),
        }).then(function (r) { return r.json(); }).then(function (data) {
          status.textContent = "Sandbox clock: " + new Date(data.now * 1000).toDateString() +
            ". Reloading the widgets…";
          setTimeout(function () { location.reload(); }, 1500);
        }).catch(function () {
          status.textContent = "The sandbox did not answer; try again.";
          button.disabled = false;
        });
      });
    });
  });
})();

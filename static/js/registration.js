/* Progressive enhancement of the registration form: the number of participants
   changes the rows and the total at once. Without JavaScript the "Update the
   list" button does the same on the server. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  var form = document.getElementById("registration-form");
  if (!form) { return; }
  var select = form.querySelector("[data-count-select]");
  var rows = document.getElementById("attendee-rows");
  var price = form.querySelector("[data-price]");

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  function formatOre(ore) {
    var locale = (price && price.getAttribute("data-locale")) || "da-DK";
    return new Intl.NumberFormat(locale, { style: "currency", currency: "DKK" }).format(ore / 100);
  }

  function updateTotal(count) {
    if (!price) { return; }
    var unit = parseInt(price.getAttribute("data-unit-net"), 10);
    var rate = parseInt(price.getAttribute("data-vat-percent"), 10);
    var net = unit * count;
    // Half up to the øre, as the server and the invoice do.
    var vat = Math.floor((net * rate + 50) / 100);
    price.querySelector("[data-count]").textContent = String(count);
    price.querySelector("[data-total-net]").textContent = formatOre(net);
    price.querySelector("[data-total-vat]").textContent = formatOre(vat);
    price.querySelector("[data-total-gross]").textContent = formatOre(net + vat);
  }

  function renumber(row, index) {
    row.setAttribute("data-index", String(index));
    var legend = row.querySelector("legend");
    legend.textContent = rows.getAttribute("data-legend").replace("__N__", String(index + 1));
    var pattern = /attendees-\d+-/g;
    var replacement = "attendees-" + index + "-";
    row.querySelectorAll("[id],[for],[name],[aria-describedby]").forEach(function (el) {
      ["id", "for", "name", "aria-describedby"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) { el.setAttribute(attr, value.replace(pattern, replacement)); }
      });
    });
  }

  function blankCopy(row, index) {
    var copy = row.cloneNode(true);
    copy.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    copy.querySelectorAll(".field-invalid").forEach(function (el) { el.classList.remove("field-invalid"); });
    copy.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
      var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && !/-error$/.test(id);
      });
      if (ids.length) { input.setAttribute("aria-describedby", ids.join(" ")); }
      else { input.removeAttribute("aria-describedby"); }
    });
    renumber(copy, index);
    return copy;
  }

  if (select && rows) {
    select.addEventListener("change", function () {
      var wanted = parseInt(select.value, 10);
      var current = rows.querySelectorAll("fieldset.attendee");
      for (var i = current.length; i < wanted; i++) {
        rows.appendChild(blankCopy(current[0], i));
      }
      for (var j = current.length - 1; j >= wanted; j--) {
        current[j].remove();
      }
      updateTotal(wanted);
    });
  }
})();

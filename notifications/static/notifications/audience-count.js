// Live count of the employees matching the audience filters while editing.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const output = document.getElementById("audience-count");
  const selects = document.querySelectorAll("select[data-audience]");
  if (!output || !selects.length) return;
  let pending = null;
  function refresh() {
    const params = new URLSearchParams();
    selects.forEach(function (select) {
      Array.from(select.selectedOptions).forEach(function (option) {
        params.append(select.dataset.audience, option.value);
      });
    });
    if (pending) pending.abort();
    pending = new AbortController();
    fetch(output.dataset.url + "?" + params.toString(), {
      credentials: "same-origin",
      signal: pending.signal,
    })
      .then(function (response) { return response.json(); })
      .then(function (data) { output.textContent = data.count; })
      .catch(function () {});
  }
  selects.forEach(function (select) { select.addEventListener("change", refresh); });
});

// Switchboard console: the only script. Pages work without it; it adds the live view, asks
// before destructive buttons, and reloads a form when a choice changes what it shows.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // The dashboard's calls and phones, replaced as the exchange reports changes (SSE).
  const live = document.querySelector("[data-live]");
  if (live && "EventSource" in window) {
    const events = new EventSource(live.dataset.live);
    events.addEventListener("live", (event) => {
      live.innerHTML = event.data;
      for (const [count, tile] of [["calls", "calls-now"], ["phones", "phones-now"]]) {
        const from = live.querySelector(`[data-count="${count}"]`);
        const to = document.getElementById(tile);
        if (from && to) to.textContent = from.textContent;
      }
      live.dataset.updated = String(Date.now());
    });
  }

  // "Remove employee?", "Delete this message?"
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  // Picking another flow shows its settings form.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});

// Keyboard-driven review: j/k move between fields, e edits, a confirms, v verifies, n opens the next case.
(function () {
  "use strict";
  // evidence boxes: percentages of the page image (set here: the CSP forbids inline style attributes)
  document.querySelectorAll(".box[data-box]").forEach((b) => {
    const [l, t, w, h] = b.dataset.box.split(",");
    Object.assign(b.style, { left: l + "%", top: t + "%", width: w + "%", height: h + "%" });
  });
  const rows = Array.from(document.querySelectorAll("tr.field"));
  let current = -1;

  function highlight(key) {
    document.querySelectorAll(".box.active").forEach((b) => b.classList.remove("active"));
    document.querySelectorAll(".box").forEach((b) => {
      if (b.dataset.field === key) {
        b.classList.add("active");
        b.scrollIntoView({ block: "center", behavior: "smooth" });
      }
    });
  }

  function select(i) {
    if (!rows.length) return;
    current = (i + rows.length) % rows.length;
    rows.forEach((r) => r.classList.remove("active"));
    const row = rows[current];
    row.classList.add("active");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    highlight(row.dataset.field);
  }

  rows.forEach((row, i) => {
    row.addEventListener("click", () => select(i));
    const input = row.querySelector("input.value");
    if (input) input.addEventListener("focus", () => { current = i; highlight(row.dataset.field); });
  });
  document.querySelectorAll(".box").forEach((box) => {
    box.addEventListener("click", () => {
      const i = rows.findIndex((r) => r.dataset.field === box.dataset.field);
      if (i >= 0) select(i);
    });
  });
  document.querySelectorAll("a.to-field").forEach((a) => {
    a.addEventListener("click", (ev) => {
      const key = a.getAttribute("href").slice(3);
      const i = rows.findIndex((r) => r.dataset.field === key);
      if (i >= 0) { ev.preventDefault(); select(i); }
    });
  });

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
    if (typing) {
      if (ev.key === "Escape") { t.blur(); if (current >= 0) select(current); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const row = current >= 0 ? rows[current] : null;
    if (ev.key === "j") { select(current + 1); ev.preventDefault(); }
    else if (ev.key === "k") { select(current - 1); ev.preventDefault(); }
    else if ((ev.key === "e" || ev.key === "Enter") && row) {
      const input = row.querySelector("input.value");
      if (input) { input.focus(); input.select(); ev.preventDefault(); }
    } else if (ev.key === "a" && row) {
      const form = row.querySelector("form.confirm");
      if (form) { form.submit(); ev.preventDefault(); }
      else { select(current + 1); ev.preventDefault(); }
    } else if (ev.key === "v") {
      const form = document.getElementById("verify-form");
      if (form) { form.submit(); ev.preventDefault(); }
    } else if (ev.key === "n") {
      const head = document.getElementById("case-head");
      window.location.href = "/next" + (head ? "?after=" + encodeURIComponent(head.dataset.case) : "");
    }
  });
  const first = rows.findIndex((r) => r.classList.contains("flagged") || r.classList.contains("low"));
  if (rows.length && !window.location.hash) select(first >= 0 ? first : 0);
})();

// mltrail's experiments list and runs table: the few behaviours the server cannot render.
// Every change goes through the JSON API (mltrail.api); the tables themselves come from the
// server, refreshed by htmx.
"use strict";

(function () {
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const page = (path) => `${mltrail.prefix()}${path}`;

  // Times arrive in UTC; show them in the reader's time zone.
  function localTimes(root) {
    for (const el of $$("time[data-ms]:not([datetime])", root)) {
      const date = new Date(Number(el.dataset.ms));
      el.dateTime = date.toISOString();
      el.title = el.textContent;
      el.textContent = date.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      });
    }
  }

  // ------------------------------------------------------------------ experiments list

  function experimentsList() {
    const open = $("#xp-create-open");
    const form = $("#xp-create");
    if (!open || !form) return;
    const name = $("#xp-create-name");
    const show = (visible) => {
      form.hidden = !visible;
      open.setAttribute("aria-expanded", String(visible));
      if (visible) name.focus(); else open.focus();
    };
    open.addEventListener("click", () => show(form.hidden));
    $("#xp-create-cancel").addEventListener("click", () => show(false));
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") show(false); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const wanted = name.value.trim();
      if (!wanted) { name.focus(); return; }
      const made = await mltrail.api("POST", "experiments/create", { name: wanted });
      window.location.assign(page(`/experiments/${encodeURIComponent(made.experiment_id)}`));
    });

    document.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const id = button.dataset.id;
      const action = button.dataset.action;
      if (action === "rename") {
        startRename(button);
        return;
      }
      button.disabled = true;
      try {
        await mltrail.api("POST", `experiments/${action}`, { experiment_id: id });
        window.location.reload();
      } finally {
        button.disabled = false;
      }
    });
  }

  // Rename in place: the name cell becomes a small form; Enter saves, Escape cancels.
  function startRename(button) {
    const row = button.closest("tr");
    const cell = $(".xp-name", row);
    const before = cell.innerHTML;
    const form = document.createElement("form");
    form.className = "row xp-rename";
    const input = document.createElement("input");
    input.type = "text";
    input.value = button.dataset.name;
    input.setAttribute("aria-label", "New name");
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "primary";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = "Cancel";
    form.append(input, save, cancel);
    cell.replaceChildren(form);
    input.focus();
    input.select();
    const restore = () => { cell.innerHTML = before; button.focus(); };
    cancel.addEventListener("click", restore);
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") restore(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const wanted = input.value.trim();
      if (!wanted || wanted === button.dataset.name) { restore(); return; }
      await mltrail.api("POST", "experiments/update",
        { experiment_id: button.dataset.id, new_name: wanted });
      window.location.reload();
    });
  }

  // ------------------------------------------------------------------------ runs table

  const selected = new Set();

  function selectionChanged() {
    const count = selected.size;
    const label = $("#runs-selected");
    if (!label) return;
    label.textContent = count ? `${count} selected` : "None selected";
    $("#runs-compare").disabled = count < 2;
    $("#runs-delete").disabled = count === 0;
    $("#runs-tag").disabled = count === 0;
    const boxes = $$(".run-select");
    const all = $("#runs-select-all");
    if (all) {
      all.checked = boxes.length > 0 && boxes.every((box) => box.checked);
      all.indeterminate = !all.checked && boxes.some((box) => box.checked);
    }
  }

  // After htmx replaces the table, tick again what was selected.
  function restoreSelection(root) {
    for (const box of $$(".run-select", root)) box.checked = selected.has(box.value);
    selectionChanged();
  }

  function refreshTable() {
    const region = $("#runs-region");
    const form = $("#runs-filter");
    if (!region || !form) { window.location.reload(); return; }
    htmx.ajax("GET", form.getAttribute("hx-get") + "?" + new URLSearchParams(new FormData(form)),
      { target: "#runs-region", swap: "outerHTML" });
  }

  async function eachSelected(work) {
    const ids = Array.from(selected);
    for (const id of ids) await work(id);
    return ids;
  }

  function runsTable() {
    if (!$("#runs-filter")) return;

    document.addEventListener("change", (event) => {
      const box = event.target;
      if (box.matches(".run-select")) {
        if (box.checked) selected.add(box.value); else selected.delete(box.value);
        selectionChanged();
      } else if (box.id === "runs-select-all") {
        for (const each of $$(".run-select")) {
          each.checked = box.checked;
          if (box.checked) selected.add(each.value); else selected.delete(each.value);
        }
        selectionChanged();
      } else if (box.closest(".col-picker-panel")) {
        pickColumns(box.closest(".col-picker-panel"));
      }
    });

    document.addEventListener("click", (event) => {
      const toggle = event.target.closest(".tree-toggle");
      if (toggle) toggleChildren(toggle);
    });

    $("#runs-compare").addEventListener("click", () => {
      const ids = Array.from(selected).map(encodeURIComponent).join(",");
      window.location.assign(page(`/compare?runs=${ids}`));
    });

    $("#runs-delete").addEventListener("click", async () => {
      const count = selected.size;
      if (!window.confirm(`Delete ${count} run${count === 1 ? "" : "s"}? They can be restored from the Deleted view.`)) return;
      await eachSelected((id) => mltrail.api("POST", "runs/delete", { run_id: id }));
      selected.clear();
      refreshTable();
    });

    $("#runs-tag").addEventListener("click", async () => {
      const answer = window.prompt("Tag the selected runs: key=value");
      if (answer === null) return;
      const at = answer.indexOf("=");
      const key = (at < 0 ? answer : answer.slice(0, at)).trim();
      if (!key) { mltrail.flash("A tag needs a key: key=value"); return; }
      const value = at < 0 ? "" : answer.slice(at + 1).trim();
      const ids = await eachSelected(
        (id) => mltrail.api("POST", "runs/set-tag", { run_id: id, key, value }));
      mltrail.flash(`Tagged ${ids.length} run${ids.length === 1 ? "" : "s"} ${key}=${value}`);
      refreshTable();
    });

    // htmx: a filter that does not parse answers 400 with its message, shown above the table,
    // which stays as it was. A good answer clears the message.
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      const detail = event.detail;
      if (detail.target && detail.target.id === "runs-region") {
        const box = $("#runs-filter-error");
        if (detail.xhr.status === 400 || detail.xhr.status === 404) {
          detail.shouldSwap = true;
          detail.isError = false;
          detail.target = box;
          detail.swapOverride = "innerHTML";
        } else if (detail.xhr.status < 300) {
          box.replaceChildren();
        }
      }
    });

    // The live refresh reloads every row on screen, not just the first page.
    document.body.addEventListener("htmx:configRequest", (event) => {
      if (event.detail.elt.id === "runs-region" && event.detail.elt.dataset.live) {
        event.detail.parameters.n = String($$("#runs-body tr.run").length);
      }
    });

    // In the same task as the swap, so no click can land between the new rows and their ticks.
    document.body.addEventListener("htmx:afterSwap", (event) => {
      localTimes(document);
      restoreSelection(document);
    });
  }

  // The column picker: the chosen columns go in the URL (?cols=...), so a view is a link.
  // `cols` is always set once the user picks, even empty: no `cols` means the default columns.
  function pickColumns(panel) {
    const cols = $$("input[type=checkbox]:checked", panel).map((box) => box.value);
    const query = new URLSearchParams();
    for (const [key, value] of [["filter", $("#runs-filter-text").value.trim()],
                                ["order", panel.dataset.order], ["cols", cols.join(",")],
                                ["view", panel.dataset.view === "active" ? "" : panel.dataset.view]]) {
      if (value || key === "cols") query.set(key, value);
    }
    const text = query.toString();
    window.location.assign(panel.dataset.base + (text ? `?${text}` : ""));
  }

  function toggleChildren(toggle) {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "▾" : "▸";
    const name = toggle.getAttribute("aria-label").replace(/^(Hide|Show) /, "");
    toggle.setAttribute("aria-label", `${open ? "Hide" : "Show"} ${name}`);
    // Hide every descendant; on opening, show the children, and theirs only where open.
    const hide = (parentId) => {
      for (const row of $$(`tr[data-parent="${CSS.escape(parentId)}"]`)) {
        row.hidden = true;
        hide(row.dataset.runId);
      }
    };
    const show = (parentId) => {
      for (const row of $$(`tr[data-parent="${CSS.escape(parentId)}"]`)) {
        row.hidden = false;
        const own = $(".tree-toggle", row);
        if (!own || own.getAttribute("aria-expanded") === "true") show(row.dataset.runId);
      }
    };
    if (open) show(toggle.dataset.runId); else hide(toggle.dataset.runId);
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    experimentsList();
    runsTable();
    selectionChanged();
  });
})();

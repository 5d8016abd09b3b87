// mltrail's UI: the few lines pages share. State changes go through the JSON API, never forms.
"use strict";

window.mltrail = (function () {
  const prefix = () => document.body.dataset.prefix || "";

  function flash(message) {
    const box = document.getElementById("flash");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  // Call MLflow's REST API (the path after /api/2.0/mlflow/); resolve with the JSON answer,
  // or show the server's message and reject.
  async function api(method, path, body) {
    const options = { method, headers: { "Accept": "application/json" } };
    let url = `${prefix()}/ajax-api/2.0/mlflow/${path}`;
    if (method === "GET" && body) {
      url += "?" + new URLSearchParams(body).toString();
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const text = await response.text();
    let data = {};
    try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
    if (!response.ok) {
      flash(data.message || `${response.status} ${response.statusText}`);
      throw new Error(data.message || String(response.status));
    }
    return data;
  }

  return { api, flash, prefix };
})();

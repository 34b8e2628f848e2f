// berth's operator console: plain DOM, no framework, everything through
// the daemon's HTTP API (docs/api.md) with the token kept in
// sessionStorage. Pages: /ui/runs (with the supervised services above
// the runs), /ui/runs/ID, /ui/configs, /ui/configs/new, /ui/configs/ID,
// /ui/addons, /ui/services (the services with restart and logs).
"use strict";

const TRIGGERS = ["final-process-item", "final-reprocess-item", "existing-item", "scheduled"];
const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];
const main = document.getElementById("main");
let timer = null; // the current page's refresh
let pageGen = 0;  // bumped on every navigation: stale refreshes stop

// h builds an element: h("a", {href: "/x"}, "text", child…).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  for (const k of kids.flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

// fill replaces el's children, leaving out null and false, flattening
// arrays.
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter(k => k != null && k !== false).map(k => k instanceof Node ? k : String(k)));
}

function flash(msg, isError) {
  const f = document.getElementById("flash");
  f.textContent = msg || "";
  f.className = isError ? "error" : "";
}

class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// api calls the daemon; body may be an object (JSON) or FormData.
async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem("berth-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  const resp = await fetch(path, {method, headers, body: payload});
  if (resp.status === 401) { showLogin(token ? "The token was refused." : ""); throw new APIError(401, "unauthorized", "log in first"); }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!resp.ok) {
    const e = data && data.error;
    throw new APIError(resp.status, e ? e.code : "http", e ? e.message : text.trim() || resp.statusText);
  }
  return data;
}

// --- time and formatting ---------------------------------------------
function fmtTime(t) {
  if (!t) return "–";
  const d = new Date(t);
  const p = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
// goDurMS turns a Go duration string ("1m2.5s", "154.609677ms") into
// milliseconds, or NaN.
function goDurMS(s) {
  if (typeof s !== "string" || s === "") return NaN;
  const unit = {h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, "µs": 1e-3, ns: 1e-6};
  let ms = 0, rest = s.replace(/([0-9.]+)(h|ms|m|s|us|µs|ns)/g, (_, n, u) => { ms += parseFloat(n) * unit[u]; return ""; });
  return rest === "" ? ms : NaN;
}

function fmtDur(ms) {
  if (ms == null || isNaN(ms)) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
function runDuration(r) {
  if (!r.startedAt) return null;
  const end = r.finishedAt ? new Date(r.finishedAt) : new Date();
  return end - new Date(r.startedAt);
}
const isFinal = s => s === "succeeded" || s === "failed" || s === "cancelled";
const stateEl = s => h("span", {class: "state state-" + s}, s);

// --- caches of names --------------------------------------------------
let names = {configs: {}, addons: {}};
async function loadNames() {
  const [c, a] = await Promise.all([api("GET", "/v1/run-configs"), api("GET", "/v1/addons")]);
  names = {configs: {}, addons: {}, configList: c.runConfigs, addonList: a.addons};
  for (const x of c.runConfigs) names.configs[x.id] = x.name;
  for (const x of a.addons) names.addons[x.id] = x.name + "-" + x.version;
  return names;
}
const configName = id => id ? (names.configs[id] || id + " (deleted)") : "ad hoc";

// --- login -------------------------------------------------------------
function showLogin(why) {
  stopTimer();
  document.getElementById("logout").hidden = true;
  fill(main, 
    h("h1", {}, "Log in"),
    h("p", {}, "Give one of the daemon's API tokens (serve.token-file). It is kept in this tab only (sessionStorage)."),
    why ? h("p", {class: "state-failed", role: "alert"}, why) : null,
    h("form", {id: "login", onsubmit: e => {
      e.preventDefault();
      sessionStorage.setItem("berth-token", e.target.token.value.trim());
      route();
    }},
      h("label", {for: "token"}, "API token"),
      h("input", {type: "password", id: "token", name: "token", autocomplete: "current-password", required: true, size: 40}),
      " ", h("button", {class: "primary", type: "submit"}, "Log in")));
  main.querySelector("input").focus();
}

// --- router ------------------------------------------------------------
function go(path) { history.pushState(null, "", path); route(); }
function stopTimer() { if (timer) clearTimeout(timer); timer = null; }

async function route() {
  stopTimer();
  pageGen++;
  flash("");
  const p = location.pathname.replace(/\/+$/, "") || "/ui/runs";
  const parts = p.split("/").filter(Boolean); // ["ui", "runs", id]
  const section = parts[0] === "ui" ? (parts[1] || "runs") : "runs";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  document.getElementById("logout").hidden = !sessionStorage.getItem("berth-token");
  try {
    if (section === "addons") await addonsPage();
    else if (section === "services") await servicesPage();
    else if (section === "configs" && parts[2]) await configForm(parts[2] === "new" ? null : decodeURIComponent(parts[2]));
    else if (section === "configs") await configsPage();
    else if (section === "runs" && parts[2]) await runPage(decodeURIComponent(parts[2]));
    else await runsPage();
  } catch (e) {
    if (e.status !== 401) { fill(main, h("h1", {}, "Error"), h("p", {role: "alert"}, e.message)); }
  }
}

document.addEventListener("click", e => {
  const a = e.target.closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin === location.origin && url.pathname.startsWith("/ui/")) {
    e.preventDefault();
    go(url.pathname + url.search);
  }
});
window.addEventListener("popstate", route);
document.getElementById("logout").addEventListener("click", () => { sessionStorage.removeItem("berth-token"); showLogin(""); });

// busy disables a button while fn runs and shows its error.
async function busy(btn, fn) {
  if (btn) btn.disabled = true;
  try { return await fn(); }
  catch (e) { if (e.status !== 401) flash(e.message, true); }
  finally { if (btn) btn.disabled = false; }
}

// --- addons ------------------------------------------------------------
async function addonsPage() {
  const {addons} = await api("GET", "/v1/addons");
  const src = h("fieldset", {},
    h("legend", {}, "Install an addon"),
    h("div", {role: "radiogroup", "aria-label": "Source"},
      ["url", "upload", "path"].map((k, i) => h("label", {class: "inline"},
        h("input", {type: "radio", name: "kind", value: k, checked: i === 0, onchange: showKind}),
        {url: "Zip URL", upload: "Upload a zip", path: "Path on the server"}[k]))),
    h("div", {"data-kind": "url"}, h("label", {for: "src-url"}, "URL of the addon's zip"), h("input", {type: "url", id: "src-url", size: 50, placeholder: "https://…/addon.zip"})),
    h("div", {"data-kind": "upload", hidden: true}, h("label", {for: "src-file"}, "Zip file"), h("input", {type: "file", id: "src-file", accept: ".zip,application/zip"})),
    h("div", {"data-kind": "path", hidden: true}, h("label", {for: "src-path"}, "Absolute path on the daemon's machine (serve.allow-path)"), h("input", {type: "text", id: "src-path", size: 50, placeholder: "/srv/addons/my-addon"})),
    h("p", {}, h("button", {class: "primary", type: "submit"}, "Install")));
  function showKind() {
    const k = form.kind.value;
    for (const d of src.querySelectorAll("[data-kind]")) d.hidden = d.dataset.kind !== k;
  }
  const form = h("form", {id: "install", onsubmit: async e => {
    e.preventDefault();
    const btn = form.querySelector("button[type=submit]");
    await busy(btn, async () => {
      const a = await api("POST", "/v1/addons", addonBody(form.kind.value, "src"));
      flash(`Installed ${a.name}-${a.version}.`);
      await addonsPage();
    });
  }}, src);
  fill(main, h("h1", {}, "Addons"), form,
    addons.length ? h("div", {}, addons.map(addonCard)) : h("p", {class: "muted"}, "No addon is installed yet."));
}

function addonBody(kind, prefix) {
  if (kind === "upload") {
    const f = document.getElementById(prefix + "-file").files[0];
    if (!f) throw new APIError(0, "input", "choose a zip file");
    const fd = new FormData(); fd.append("file", f, f.name); return fd;
  }
  const v = document.getElementById(prefix + "-" + kind).value.trim();
  if (kind === "url") return v ? {url: v} : undefined;
  return v ? {path: v} : undefined;
}

function addonCard(a) {
  const canRun = a.usableRunners.length
    ? a.usableRunners.map(r => h("span", {class: "tag ok"}, r))
    : [h("span", {class: "tag bad"}, "no runner here")];
  const card = h("section", {class: "card addon", "data-addon": a.name, "aria-labelledby": "h-" + a.id},
    h("h2", {id: "h-" + a.id}, `${a.name} `, h("span", {class: "muted"}, a.version)),
    a.description ? h("p", {}, a.description) : null,
    h("dl", {class: "facts"},
      h("dt", {}, "Kind"), h("dd", {}, a.pure ? "pure (no network, returns data only)" : "impure", a.networking ? " · network" : "", a.collectOutput ? "" : " · output not collected"),
      h("dt", {}, "Triggers"), h("dd", {}, a.triggers.map(t => h("span", {class: "tag"}, t))),
      h("dt", {}, "Runners"), h("dd", {}, a.runners.map(r => h("span", {class: "tag"}, r))),
      h("dt", {}, "Can run here with"), h("dd", {class: "can-run"}, canRun),
      h("dt", {}, "Source"), h("dd", {}, h("code", {}, a.source)),
      h("dt", {}, "Installed"), h("dd", {}, fmtTime(a.installedAt), a.updatedAt !== a.installedAt ? ` · updated ${fmtTime(a.updatedAt)}` : ""),
      h("dt", {}, "Id"), h("dd", {}, h("code", {}, a.id))));
  const upd = h("details", {},
    h("summary", {}, "Update"),
    h("p", {class: "muted"}, "Fetch it again from where it came from, or from a new source."),
    h("div", {class: "row"},
      h("div", {}, h("label", {for: "u-url-" + a.id}, "New zip URL (optional)"), h("input", {type: "url", id: "u-url-" + a.id, size: 36})),
      h("div", {}, h("label", {for: "u-file-" + a.id}, "or a zip to upload"), h("input", {type: "file", id: "u-file-" + a.id, accept: ".zip"})),
      h("button", {type: "button", onclick: e => busy(e.target, async () => {
        const file = document.getElementById("u-file-" + a.id).files[0];
        const url = document.getElementById("u-url-" + a.id).value.trim();
        let body;
        if (file) { body = new FormData(); body.append("file", file, file.name); }
        else if (url) body = {url};
        const n = await api("PUT", "/v1/addons/" + encodeURIComponent(a.id), body);
        flash(n.hash === a.hash ? `${n.name}-${n.version}: unchanged.` : `Updated to ${n.name}-${n.version}.`);
        await addonsPage();
      })}, "Update now")));
  card.append(h("div", {class: "actions"},
    h("button", {type: "button", class: "danger", onclick: e => {
      if (!confirm(`Remove ${a.name}-${a.version}?`)) return;
      busy(e.target, async () => { await api("DELETE", "/v1/addons/" + encodeURIComponent(a.id)); flash(`Removed ${a.name}-${a.version}.`); await addonsPage(); });
    }}, "Remove")), upd);
  return card;
}

// --- run configurations -------------------------------------------------
async function configsPage() {
  await loadNames();
  const list = names.configList;
  const rows = list.map(c => h("tr", {"data-config": c.name},
    h("td", {"data-label": "Name"}, h("a", {href: "/ui/configs/" + encodeURIComponent(c.id)}, c.name)),
    h("td", {"data-label": "Enabled"}, c.enabled ? "yes" : h("span", {class: "muted"}, "disabled")),
    h("td", {"data-label": "Triggers"}, c.trigger.map(t => h("span", {class: "tag"}, t))),
    h("td", {"data-label": "Schedule"}, c.schedule ? h("code", {}, c.schedule) : "–"),
    h("td", {"data-label": "Addons"}, c.addons.map((x, i) => [i ? " → " : "", names.addons[x.addonId] || x.addonId])),
    h("td", {"data-label": "Actions"}, h("div", {class: "actions"},
      h("button", {type: "button", onclick: e => busy(e.target, async () => {
        await api("POST", `/v1/run-configs/${encodeURIComponent(c.id)}/${c.enabled ? "disable" : "enable"}`);
        flash(`${c.name} ${c.enabled ? "disabled" : "enabled"}.`);
        await configsPage();
      })}, c.enabled ? "Disable" : "Enable"),
      h("button", {type: "button", onclick: () => go("/ui/configs/" + encodeURIComponent(c.id) + "?run=1")}, "Run now"),
      h("button", {type: "button", class: "danger", onclick: e => {
        if (!confirm(`Delete the configuration ${c.name}? Its runs stay.`)) return;
        busy(e.target, async () => { await api("DELETE", "/v1/run-configs/" + encodeURIComponent(c.id)); flash(`Deleted ${c.name}.`); await configsPage(); });
      }}, "Delete")))));
  fill(main, h("h1", {}, "Run configurations"),
    h("p", {}, h("a", {class: "button", href: "/ui/configs/new"}, "New configuration")),
    list.length ? h("table", {class: "responsive"},
      h("thead", {}, h("tr", {}, ["Name", "Enabled", "Triggers", "Schedule", "Addons", ""].map(x => h("th", {scope: "col"}, x)))),
      h("tbody", {}, rows)) : h("p", {class: "muted"}, "No run configuration yet."));
}

async function configForm(id) {
  await loadNames();
  const c = id ? await api("GET", "/v1/run-configs/" + encodeURIComponent(id)) : {name: "", enabled: true, trigger: ["existing-item"], addons: [], schedule: ""};
  const addons = names.addonList;
  const steps = h("div", {id: "steps"});
  const preview = h("ul", {id: "schedule-preview", class: "plain muted", "aria-live": "polite"});
  const addStep = (s) => {
    const sel = h("select", {"aria-label": "Addon", class: "step-addon"},
      addons.map(a => h("option", {value: a.id, selected: a.id === s.addonId}, `${a.name}-${a.version}`)));
    const args = h("textarea", {class: "step-args", "aria-label": "User input (args)", placeholder: "user input given to the addon, often JSON"}, s.args || "");
    const box = h("div", {class: "addon-step"},
      h("div", {class: "row"}, h("div", {}, h("label", {}, "Addon"), sel),
        h("div", {class: "actions"},
          h("button", {type: "button", "aria-label": "Move up", onclick: () => box.previousElementSibling && steps.insertBefore(box, box.previousElementSibling)}, "↑"),
          h("button", {type: "button", "aria-label": "Move down", onclick: () => box.nextElementSibling && steps.insertBefore(box.nextElementSibling, box)}, "↓"),
          h("button", {type: "button", class: "danger", onclick: () => box.remove()}, "Remove"))),
      h("label", {}, "User input"), args);
    steps.append(box);
  };
  c.addons.forEach(addStep);
  let previewTimer = null;
  const updatePreview = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const expr = form.schedule.value.trim();
      if (!expr) { fill(preview, ); return; }
      try {
        const p = await api("GET", "/v1/schedule?count=5&expr=" + encodeURIComponent(expr));
        fill(preview, h("li", {}, "Next firings:"), p.next.map(t => h("li", {}, fmtTime(t))));
      } catch (e) { fill(preview, h("li", {class: "state-failed"}, e.message)); }
    }, 250);
  };
  const form = h("form", {id: "config-form", onsubmit: async e => {
    e.preventDefault();
    const body = {
      name: form.cname.value, enabled: form.enabled.checked,
      trigger: TRIGGERS.filter(t => form["t-" + t].checked),
      addons: [...steps.children].map(b => ({addonId: b.querySelector(".step-addon").value, args: b.querySelector(".step-args").value})),
    };
    if (form.schedule.value.trim()) body.schedule = form.schedule.value.trim();
    if (form.webhook.value.trim()) body.webhook = form.webhook.value.trim();
    if (form.hosturl.value.trim()) body.hostUrl = form.hosturl.value.trim();
    await busy(form.querySelector("button[type=submit]"), async () => {
      const saved = id ? await api("PUT", "/v1/run-configs/" + encodeURIComponent(id), body) : await api("POST", "/v1/run-configs", body);
      go("/ui/configs/" + encodeURIComponent(saved.id));
      flash(`Saved ${saved.name}.`);
    });
  }},
    h("label", {for: "cname"}, "Name"), h("input", {type: "text", id: "cname", name: "cname", required: true, value: c.name, size: 40}),
    h("label", {class: "inline"}, h("input", {type: "checkbox", name: "enabled", checked: c.enabled}), "Enabled (events and the schedule run it)"),
    h("fieldset", {}, h("legend", {}, "Triggers"),
      TRIGGERS.map(t => h("label", {class: "inline"}, h("input", {type: "checkbox", name: "t-" + t, checked: c.trigger.includes(t)}), t))),
    h("label", {for: "schedule"}, "Schedule (with the scheduled trigger: cron, @every 1h, @daily)"),
    h("input", {type: "text", id: "schedule", name: "schedule", value: c.schedule || "", size: 30, oninput: updatePreview, placeholder: "0 3 * * *"}),
    preview,
    h("fieldset", {}, h("legend", {}, "Addons, in order"), steps,
      addons.length ? h("button", {type: "button", onclick: () => addStep({addonId: addons[0].id, args: ""})}, "Add an addon")
        : h("p", {}, "Install an addon first: ", h("a", {href: "/ui/addons"}, "Addons"))),
    h("label", {for: "webhook"}, "Webhook (optional: receives each final run)"), h("input", {type: "url", id: "webhook", name: "webhook", value: c.webhook || "", size: 40}),
    h("label", {for: "hosturl"}, "Host URL (optional: DSC_DOCSPELL_URL)"), h("input", {type: "url", id: "hosturl", name: "hosturl", value: c.hostUrl || "", size: 40}),
    h("p", {}, h("button", {class: "primary", type: "submit"}, id ? "Save" : "Create")));
  fill(main, h("p", {}, h("a", {href: "/ui/configs"}, "← Run configurations")),
    h("h1", {}, id ? c.name : "New run configuration"), form, id ? runNowForm(c) : null);
  updatePreview();
  if (id && new URLSearchParams(location.search).get("run")) main.querySelector("#run-now textarea").focus();
}

function runNowForm(c) {
  const form = h("form", {id: "run-now", onsubmit: async e => {
    e.preventDefault();
    await busy(form.querySelector("button[type=submit]"), async () => {
      const req = {configId: c.id};
      for (const [field, el] of [["item", form.item], ["itemArgs", form.itemargs]]) {
        const v = el.value.trim();
        if (!v) continue;
        try { req[field] = JSON.parse(v); } catch (err) { throw new APIError(0, "input", `${field}: not JSON: ${err.message}`); }
      }
      const originals = [...form.originals.files], pdfs = [...form.pdfs.files];
      let body = req;
      if (originals.length + pdfs.length) {
        body = new FormData();
        body.append("run", JSON.stringify(req));
        for (const f of originals) body.append("original", f, f.name);
        for (const f of pdfs) body.append("pdf", f, f.name);
      }
      const run = await api("POST", "/v1/runs", body);
      go("/ui/runs/" + encodeURIComponent(run.id));
    });
  }},
    h("h2", {}, "Run now on an item"),
    h("label", {for: "item"}, "Item data (JSON, optional)"), h("textarea", {id: "item", name: "item", placeholder: '{"id": "item-1", "name": "Invoice"}'}),
    h("label", {for: "itemargs"}, "Item arguments (JSON, optional)"), h("textarea", {id: "itemargs", name: "itemargs"}),
    h("div", {class: "row"},
      h("div", {}, h("label", {for: "originals"}, "Original files"), h("input", {type: "file", id: "originals", name: "originals", multiple: true})),
      h("div", {}, h("label", {for: "pdfs"}, "PDFs"), h("input", {type: "file", id: "pdfs", name: "pdfs", multiple: true, accept: ".pdf,application/pdf"}))),
    h("p", {}, h("button", {class: "primary", type: "submit"}, "Run now")));
  return h("section", {class: "card"}, form);
}

// --- runs --------------------------------------------------------------
async function runsPage() {
  await loadNames();
  const q = new URLSearchParams(location.search);
  const gen = pageGen;
  const sel = (name, label, opts) => h("div", {}, h("label", {for: "f-" + name}, label),
    h("select", {id: "f-" + name, name}, h("option", {value: ""}, "any"),
      opts.map(([v, t]) => h("option", {value: v, selected: q.get(name) === v}, t))));
  const dt = (name, label) => h("div", {}, h("label", {for: "f-" + name}, label),
    h("input", {type: "datetime-local", id: "f-" + name, name, value: q.get(name) ? toLocalInput(q.get(name)) : ""}));
  const filters = h("form", {id: "filters", class: "row", onsubmit: e => {
    e.preventDefault();
    const n = new URLSearchParams();
    for (const el of filters.elements) {
      if (!el.name || !el.value) continue;
      n.set(el.name, el.type === "datetime-local" ? new Date(el.value).toISOString() : el.value);
    }
    go("/ui/runs" + (n.toString() ? "?" + n : ""));
  }},
    sel("state", "State", STATES.map(s => [s, s])),
    sel("config", "Configuration", names.configList.map(c => [c.id, c.name])),
    sel("addon", "Addon", names.addonList.map(a => [a.id, `${a.name}-${a.version}`])),
    sel("trigger", "Trigger", ["manual", ...TRIGGERS].map(t => [t, t])),
    dt("since", "Since"), dt("until", "Until"),
    h("button", {type: "submit"}, "Filter"),
    q.toString() ? h("a", {class: "button", href: "/ui/runs"}, "Clear") : null);
  const auto = h("input", {type: "checkbox", id: "auto", checked: localStorage.getItem("berth-auto") !== "off",
    onchange: () => { localStorage.setItem("berth-auto", auto.checked ? "on" : "off"); schedule(); }});
  const tbody = h("tbody", {});
  const pager = h("div", {class: "actions"});
  const status = h("span", {class: "muted", "aria-live": "polite"});
  const svcBox = h("section", {id: "services-summary", "aria-label": "Services"});
  fill(main, svcBox, h("h1", {}, "Runs"), filters,
    h("p", {class: "row"}, h("label", {class: "inline"}, auto, "Refresh every 2 s"), status),
    h("table", {class: "responsive", id: "runs"},
      h("thead", {}, h("tr", {}, ["Run", "State", "Configuration", "Addons", "Trigger", "Created", "Duration", "Attempts", ""].map(x => h("th", {scope: "col"}, x)))),
      tbody), pager);
  const cursors = q.get("cursor") ? (q.get("stack") || "").split(",").filter(Boolean) : [];
  const load = async () => {
    const aq = new URLSearchParams();
    for (const k of ["state", "config", "addon", "trigger", "since", "until", "cursor"]) if (q.get(k)) aq.set(k, q.get(k));
    aq.set("limit", "25");
    const page = await api("GET", "/v1/runs?" + aq);
    if (gen !== pageGen) return;
    fill(tbody, ...(page.runs.length ? page.runs.map(runRow) : [h("tr", {}, h("td", {colspan: 9, class: "muted"}, "No run matches."))]));
    const link = (label, params) => { const n = new URLSearchParams(q); for (const [k, v] of Object.entries(params)) { if (v) n.set(k, v); else n.delete(k); } return h("a", {class: "button", href: "/ui/runs?" + n}, label); };
    fill(pager, 
      q.get("cursor") ? link("← Newer", {cursor: cursors[cursors.length - 1] || "", stack: cursors.slice(0, -1).join(",")}) : null,
      page.next ? link("Older →", {cursor: page.next, stack: [...cursors, q.get("cursor") || ""].filter((x, i) => x || i > 0).join(",")}) : null);
    status.textContent = "updated " + fmtTime(new Date());
    await loadServicesSummary(svcBox, gen);
  };
  const schedule = () => { stopTimer(); if (auto.checked) timer = setTimeout(async () => { if (gen !== pageGen) return; try { await load(); } catch (e) {} schedule(); }, 2000); };
  await load();
  schedule();
}

// --- services --------------------------------------------------------------
// svcDetail is the one-line DETAIL of `berth services status`.
function svcDetail(st) {
  const d = [];
  if (st.state === "running" || st.state === "unhealthy") d.push(`container ${st.containerId || "?"}, pid ${st.pid || "?"}`);
  if (st.health) d.push("health " + st.health);
  if (st.state === "backoff") d.push(`attempt ${st.attempt}, next try ${fmtTime(st.nextTry)}`);
  if (st.state !== "running" && st.lastExitCode != null) d.push("last exit " + st.lastExitCode);
  if (st.reason) d.push(st.reason.split("\n")[0]);
  if (st.lastError && st.state !== "running") d.push(st.lastErrorLine || st.lastError.split("\n")[0]);
  return d.join("; ");
}
const svcStateClass = s => ({running: "running", failed: "failed", unhealthy: "failed", backoff: "queued", held: "queued", waiting: "queued", starting: "queued", stopping: "cancelled", stopped: "cancelled"}[s] || "");
const svcStateEl = s => h("span", {class: "state state-" + svcStateClass(s)}, s);

// servicesTable lists a project's services; onRestart, when given, adds
// a restart button per service.
function servicesTable(p, onRestart) {
  return h("table", {class: "responsive services", "data-project": p.project},
    h("thead", {}, h("tr", {}, ["Service", "State", "Health", "Restarts", "Since", "Detail", onRestart ? "" : null].filter(x => x != null).map(x => h("th", {scope: "col"}, x)))),
    h("tbody", {}, p.services.length ? p.services.map(st => h("tr", {"data-service": st.name},
      h("td", {"data-label": "Service"}, h("code", {}, st.name)),
      h("td", {"data-label": "State"}, svcStateEl(st.state)),
      h("td", {"data-label": "Health"}, st.health || "–"),
      h("td", {"data-label": "Restarts"}, String(st.restarts)),
      h("td", {"data-label": "Since"}, fmtTime(st.since)),
      h("td", {"data-label": "Detail"}, svcDetail(st)),
      onRestart ? h("td", {"data-label": ""}, p.state === "running" || p.state === "held"
        ? h("button", {type: "button", onclick: e => onRestart(e.target, p.project, st.name)}, "Restart") : null) : null))
      : [h("tr", {}, h("td", {colspan: 7, class: "muted"}, "No service."))]));
}

function projectHead(p, tag) {
  return h(tag, {}, h("code", {}, p.project), " ", svcStateEl(p.state), " ",
    h("span", {class: "muted"}, `${p.source === "config" ? "berth.yaml" : "handed over"} · ${p.file}`));
}

// loadServicesSummary fills the main page's services section; it stays
// empty while the daemon supervises nothing.
async function loadServicesSummary(box, gen) {
  let list;
  try { list = await api("GET", "/v1/services"); } catch (e) { if (e.status === 401) throw e; return; }
  if (gen !== pageGen) return;
  if (!list.projects.length) { fill(box); return; }
  fill(box, h("h1", {}, h("a", {href: "/ui/services"}, "Services")),
    list.projects.map(p => h("div", {class: "card"}, projectHead(p, "h2"),
      p.error ? h("p", {class: "state-failed"}, p.error) : null,
      servicesTable(p, null))));
}

async function servicesPage() {
  const gen = pageGen;
  const box = h("div", {});
  const logs = h("pre", {class: "logs", id: "service-logs", tabindex: "0", "aria-label": "Service logs", hidden: true});
  const logsHead = h("h2", {hidden: true});
  const status = h("span", {class: "muted", "aria-live": "polite"});
  fill(main, h("h1", {}, "Services"),
    h("p", {class: "muted"}, "Services files the daemon supervises: berth.yaml's services: and those handed over with berth services up -d. ", status),
    box, logsHead, logs);
  const restart = (btn, project, name) => busy(btn, async () => {
    await api("POST", `/v1/services/${encodeURIComponent(project)}/restart?name=${encodeURIComponent(name)}`);
    flash(`Restarting ${name}.`);
    await load();
  });
  const showLogs = (btn, project, name) => busy(btn, async () => {
    const q = new URLSearchParams({tail: "200"});
    if (name) q.set("name", name);
    const token = sessionStorage.getItem("berth-token");
    const resp = await fetch(`/v1/services/${encodeURIComponent(project)}/logs?${q}`, {headers: token ? {Authorization: "Bearer " + token} : {}});
    const text = await resp.text();
    if (!resp.ok) { let m = text; try { m = JSON.parse(text).error.message; } catch (e) {} throw new Error(m); }
    logsHead.hidden = logs.hidden = false;
    fill(logsHead, "Logs of ", h("code", {}, name || project), " (last 200 lines each)");
    logs.textContent = text || "(empty)";
    logs.scrollTop = logs.scrollHeight;
  });
  const load = async () => {
    const list = await api("GET", "/v1/services");
    if (gen !== pageGen) return;
    fill(box, list.projects.length ? list.projects.map(p => h("div", {class: "card", "data-project": p.project},
      projectHead(p, "h2"),
      p.error ? h("p", {class: "state-failed", role: p.state === "failed" ? "alert" : null}, p.error) : null,
      h("dl", {class: "facts"}, h("dt", {}, "State directory"), h("dd", {}, h("code", {}, p.stateDir)),
        h("dt", {}, "Since"), h("dd", {}, fmtTime(p.since))),
      servicesTable(p, restart),
      h("div", {class: "actions"}, h("button", {type: "button", onclick: e => showLogs(e.target, p.project, "")}, "Logs"),
        p.services.map(st => h("button", {type: "button", onclick: e => showLogs(e.target, p.project, st.name)}, "Logs of " + st.name)))))
      : h("p", {class: "muted"}, "The daemon supervises no services file: add services: to berth.yaml, or run berth services up -d."));
    status.textContent = "updated " + fmtTime(new Date());
  };
  const schedule = () => { stopTimer(); timer = setTimeout(async () => { if (gen !== pageGen) return; try { await load(); } catch (e) {} schedule(); }, 2000); };
  await load();
  schedule();
}

function toLocalInput(iso) {
  const d = new Date(iso), p = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function runActions(r, after) {
  return h("div", {class: "actions"},
    isFinal(r.state) ? null : h("button", {type: "button", class: "danger", onclick: e => busy(e.target, async () => {
      await api("POST", `/v1/runs/${encodeURIComponent(r.id)}/cancel`);
      flash(`Cancelling ${r.id}.`); await after();
    })}, "Cancel"),
    isFinal(r.state) ? h("button", {type: "button", onclick: e => busy(e.target, async () => {
      const n = await api("POST", `/v1/runs/${encodeURIComponent(r.id)}/rerun`);
      go("/ui/runs/" + encodeURIComponent(n.id)); flash(`Queued ${n.id}, a re-run of ${r.id}.`);
    })}, "Re-run") : null);
}

function runRow(r) {
  return h("tr", {"data-run": r.id},
    h("td", {"data-label": "Run"}, h("a", {href: "/ui/runs/" + encodeURIComponent(r.id)}, h("code", {}, r.id))),
    h("td", {"data-label": "State"}, stateEl(r.state)),
    h("td", {"data-label": "Configuration"}, configName(r.configId)),
    h("td", {"data-label": "Addons"}, r.addons.map(a => a.name).join(" → ")),
    h("td", {"data-label": "Trigger"}, r.trigger),
    h("td", {"data-label": "Created"}, fmtTime(r.createdAt)),
    h("td", {"data-label": "Duration"}, fmtDur(runDuration(r))),
    h("td", {"data-label": "Attempts"}, `${r.attempts}/${r.maxAttempts}`),
    h("td", {"data-label": ""}, runActions(r, () => route())));
}

// --- one run -------------------------------------------------------------
async function runPage(id) {
  await loadNames();
  const gen = pageGen;
  const head = h("div", {});
  const logs = h("pre", {class: "logs", id: "logs", tabindex: "0", "aria-label": "Logs"}, "…");
  const body = h("div", {});
  fill(main, h("p", {}, h("a", {href: "/ui/runs"}, "← Runs")), head,
    h("h2", {}, "Logs ", h("span", {id: "logs-mode", class: "muted"})), logs, body);
  let follow = null;
  const render = async () => {
    const r = await api("GET", "/v1/runs/" + encodeURIComponent(id));
    if (gen !== pageGen) return r;
    fill(head, 
      h("h1", {}, "Run ", h("code", {}, r.id), " ", stateEl(r.state)),
      r.error ? h("p", {class: "state-failed", role: "alert"}, r.error) : null,
      runActions(r, render),
      h("dl", {class: "facts", id: "facts"},
        h("dt", {}, "Configuration"), h("dd", {}, r.configId ? h("a", {href: "/ui/configs/" + encodeURIComponent(r.configId)}, configName(r.configId)) : "ad hoc"),
        h("dt", {}, "Addons"), h("dd", {}, r.addons.map((a, i) => [i ? " → " : "", a.name, a.args ? h("code", {}, ` ${a.args}`) : ""])),
        h("dt", {}, "Trigger"), h("dd", {}, r.trigger),
        h("dt", {}, "Attempts"), h("dd", {}, `${r.attempts} of at most ${r.maxAttempts}`),
        h("dt", {}, "Created"), h("dd", {}, fmtTime(r.createdAt)),
        h("dt", {}, "Started"), h("dd", {}, fmtTime(r.startedAt), r.startedAt ? ` (waited ${fmtDur(new Date(r.startedAt) - new Date(r.createdAt))})` : ""),
        h("dt", {}, "Finished"), h("dd", {}, fmtTime(r.finishedAt)),
        h("dt", {}, "Duration"), h("dd", {}, fmtDur(runDuration(r))),
        h("dt", {}, "Node"), h("dd", {}, r.node || "–"),
        h("dt", {}, "Webhook"), h("dd", {id: "webhook-state"}, r.webhookState || "none")));
    fill(body, ...runDetails(r));
    return r;
  };
  let r = await render();
  const tick = async () => {
    if (gen !== pageGen) return;
    try {
      if (!follow) await pollLogs(id, logs);
      r = await render();
    } catch (e) {}
    if (!isFinal(r.state) && gen === pageGen) timer = setTimeout(tick, 1000);
    else if (gen === pageGen) {
      if (!follow) document.getElementById("logs-mode").textContent = "";
      await pollLogs(id, logs).catch(() => {});
    }
  };
  follow = await followLogs(id, logs, gen);
  document.getElementById("logs-mode").textContent = follow ? "(live)" : (isFinal(r.state) ? "" : "(refreshed every second)");
  if (!follow) await pollLogs(id, logs);
  if (!isFinal(r.state)) timer = setTimeout(tick, 1000);
}

async function pollLogs(id, pre) {
  const l = await api("GET", `/v1/runs/${encodeURIComponent(id)}/logs`);
  // Lines are objects ({line, attempt, stream…}) or, from an older
  // daemon, strings; an older daemon counts its dropped lines apart.
  const text = l.lines.map(x => typeof x === "string" ? x : x.line);
  const lines = (l.dropped && typeof l.lines[0] !== "object" ? [`[${l.dropped} earlier lines dropped]`] : []).concat(text);
  pre.textContent = lines.length ? lines.join("\n") : "(no output on stderr)";
}

// followLogs streams GET /v1/runs/{id}/logs?follow=true when the daemon
// serves it as text/event-stream, and reports whether it does; an older
// daemon answers the plain JSON logs, and the page polls instead.
async function followLogs(id, pre, gen) {
  const headers = {Accept: "text/event-stream"};
  const token = sessionStorage.getItem("berth-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const ctl = new AbortController();
  let resp;
  try { resp = await fetch(`/v1/runs/${encodeURIComponent(id)}/logs?follow=true`, {headers, signal: ctl.signal}); } catch (e) { return false; }
  if (!resp.ok || !(resp.headers.get("Content-Type") || "").startsWith("text/event-stream") || !resp.body) { ctl.abort(); return false; }
  const lines = [];
  pre.textContent = "";
  (async () => {
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      if (gen !== pageGen) { ctl.abort(); return; }
      const {value, done} = await reader.read().catch(() => ({done: true}));
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        const fields = ev.split("\n");
        const type = (fields.find(l => l.startsWith("event:")) || "event: line").slice(6).trim();
        const data = fields.filter(l => l.startsWith("data:")).map(l => l.slice(5).replace(/^ /, "")).join("\n");
        if (type === "end") { reader.cancel().catch(() => {}); return; }
        if (!data || type !== "line") continue;
        let text = data;
        try { const j = JSON.parse(data); if (typeof j.line === "string") text = j.line; } catch (e) {}
        lines.push(text);
        pre.textContent = lines.join("\n");
        pre.scrollTop = pre.scrollHeight;
      }
    }
  })();
  return true;
}

function runDetails(r) {
  const out = [];
  const res = r.result;
  if (r.output && r.output.commands) {
    out.push(h("h2", {}, "Commands"), commandList(r.output));
  } else if (r.state === "succeeded" && r.outputSize) {
    out.push(h("h2", {}, "Commands"), h("p", {}, `The output is ${r.outputSize} bytes: `, downloadLink(`/v1/runs/${r.id}/output`, "output.json")));
  } else if (r.state === "succeeded") {
    out.push(h("h2", {}, "Commands"), h("p", {class: "muted"}, "No output."));
  }
  if (r.outputFiles && r.outputFiles.length) {
    out.push(h("h2", {}, "Output files"), h("ul", {id: "output-files"}, r.outputFiles.map(f => h("li", {}, downloadLink(`/v1/runs/${r.id}/files/${f.split("/").map(encodeURIComponent).join("/")}`, f)))));
  }
  if (r.input) {
    const files = [...(r.input.originals || []).map(f => ["original", f]), ...(r.input.pdfs || []).map(f => ["pdf", f])];
    out.push(h("h2", {}, "Item input"),
      files.length ? h("ul", {id: "input-files"}, files.map(([k, f]) => h("li", {}, `${k}: ${f.name}`, f.id ? h("span", {class: "muted"}, ` (id ${f.id})`) : ""))) : null,
      r.input.item ? h("pre", {id: "input-item"}, JSON.stringify(r.input.item, null, 2)) : null,
      r.input.itemArgs ? [h("p", {}, "Arguments"), h("pre", {}, JSON.stringify(r.input.itemArgs, null, 2))] : null);
  }
  if (res && res.addons && res.addons.length) {
    out.push(h("h2", {}, "Attempts"), h("table", {class: "responsive", id: "attempts"},
      h("thead", {}, h("tr", {}, ["Addon", "Runner", "Result", "Exit", "Duration", "Error"].map(x => h("th", {scope: "col"}, x)))),
      h("tbody", {}, res.addons.flatMap(a => (a.attempts && a.attempts.length ? a.attempts : [a]).map(t => h("tr", {},
        h("td", {"data-label": "Addon"}, a.addon || ""),
        h("td", {"data-label": "Runner"}, t.runner || "–"),
        h("td", {"data-label": "Result"}, t.result || ""),
        h("td", {"data-label": "Exit"}, t.exitCode ?? "–"),
        h("td", {"data-label": "Duration"}, isNaN(goDurMS(t.duration)) ? (t.duration || "–") : fmtDur(goDurMS(t.duration))),
        h("td", {"data-label": "Error"}, t.error || "")))))));
    if (res.warnings && res.warnings.length) out.push(h("h2", {}, "Warnings"), h("ul", {}, res.warnings.map(w => h("li", {}, w))));
  }
  if (res) out.push(h("details", {}, h("summary", {}, "The result as JSON"), h("pre", {}, JSON.stringify(res, null, 2))));
  return out;
}

// commandList renders Docspell's output: each command, its target and
// its actions as sentences.
function commandList(output) {
  const items = [];
  for (const c of output.commands || []) {
    const target = c.command === "attachment-update" ? `attachment ${c.attachmentId || "?"} of item ${c.itemId || "?"}` : `item ${c.itemId || "?"}`;
    items.push(h("li", {}, h("strong", {}, c.command || "command"), " on ", target,
      h("ul", {}, (c.actions || []).map(a => h("li", {class: "action"}, describeAction(a))))));
  }
  for (const f of output.files || []) items.push(h("li", {}, h("strong", {}, "files"), ` for item ${f.itemId || "?"}: `, JSON.stringify(f)));
  for (const n of output.newItems || []) items.push(h("li", {}, h("strong", {}, "new item"), ": ", JSON.stringify(n)));
  return items.length ? h("ol", {class: "commands", id: "commands"}, items) : h("p", {id: "commands", class: "muted"}, "The addon returned no command.");
}

function describeAction(a) {
  const list = v => Array.isArray(v) ? v.join(", ") : String(v);
  switch (a.action) {
    case "add-tags": return `add tags: ${list(a.tags)}`;
    case "set-tags": return `set tags to: ${list(a.tags)}`;
    case "remove-tags": return `remove tags: ${list(a.tags)}`;
    case "remove-tags-category": return `remove the tags of categories: ${list(a.categories)}`;
    case "add-notes": return `add notes: ${a.notes}`;
    case "set-notes": return `set notes to: ${a.notes}`;
    case "set-name": return `rename to: ${a.name}`;
    case "set-field": return `set field ${a.field} to ${a.value}`;
    case "set-date": return `set the date to ${a.date}`;
    case "set-due-date": return `set the due date to ${a.dueDate ?? a.date}`;
    default: {
      const rest = Object.entries(a).filter(([k]) => k !== "action").map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
      return `${a.action}${rest.length ? " — " + rest.join(", ") : ""}`;
    }
  }
}

// downloadLink fetches with the token (a plain link would not send it).
function downloadLink(path, name) {
  return h("a", {href: path, onclick: async e => {
    e.preventDefault();
    await busy(null, async () => {
      const token = sessionStorage.getItem("berth-token");
      const resp = await fetch(path, {headers: token ? {Authorization: "Bearer " + token} : {}});
      if (!resp.ok) throw new APIError(resp.status, "http", `${name}: HTTP ${resp.status}`);
      const url = URL.createObjectURL(await resp.blob());
      const a = h("a", {href: url, download: name.split("/").pop()});
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
  }}, name);
}

// --- start ---------------------------------------------------------------
(async () => {
  try {
    const hz = await fetch("/healthz").then(r => r.json());
    document.getElementById("node").textContent = `node ${hz.node} · ${hz.version}`;
  } catch (e) {}
  route();
})();

// dmc dashboard: reads the control API of the node that serves it, follows /v1/events, and
// builds every piece of text with textContent (names and file names come from other machines).
"use strict";

const PAGE_SIZE = 50;
const state = {
  csrf: "", offset: 0, total: 0, items: [], peers: [], names: new Map(), me: null,
  view: "items", detail: null,
  // The list's filters, answered by the node (`GET /v1/items?state=…&origin=…`); "": any.
  filters: { state: "", origin: "", converter: "", profile: "" },
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(answer.error || `${method} ${path}: ${r.status}`);
  return answer;
}

// Sends one file to /v1/uploads, which stores it on the node and offers it like `dmc offer`.
async function uploadFile(file) {
  const q = new URLSearchParams({ name: file.name });
  const profile = $("upload-profile").value;
  if (profile) q.set("profile", profile);
  const r = await fetch(`/v1/uploads?${q}`, {
    method: "POST", body: file, credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/octet-stream", "X-CSRF-Token": state.csrf },
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(`${file.name}: ${body.error || r.status}`);
  return body;
}

async function uploadAll(files) {
  const status = $("upload-status");
  showError(null);
  for (const file of files) {
    status.textContent = `uploading ${file.name} (${bytes(file.size)})…`;
    try {
      const done = await uploadFile(file);
      // Shown at once unless the live stream already brought it (perhaps newer).
      if (!state.items.some((x) => x.item_id === done.item.item_id)) onItem(done.item);
      status.textContent = done.existing
        ? `${file.name} was offered before with this profile` : `${file.name} offered`;
    } catch (e) {
      status.textContent = "";
      showError(e);
    }
  }
}

function wireUploads() {
  const input = $("upload-file");
  input.onchange = () => { uploadAll([...input.files]).finally(() => { input.value = ""; }); };
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadAll([...e.dataTransfer.files]);
  });
}

function fillSelect(select, first, options) {
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, first),
    ...options.map(([value, text]) => el("option", { value }, text)));
  select.value = chosen;
  // A choice no longer offered (a peer forgotten) stays chosen, shown by its value.
  if (select.value !== chosen) select.append(el("option", { value: chosen, selected: true }, nameOf(chosen)));
}

async function loadProfiles() {
  const names = (await api("GET", "/v1/profiles")).map((p) => [p.name, p.name]);
  fillSelect($("upload-profile"), "default for its type", names);
  fillSelect($("profile-filter"), "any", names);
}

// The origin and converter filters offer this node and every peer, by name.
function fillMachineFilters() {
  const machines = [...state.names.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  fillSelect($("origin-filter"), "any", machines);
  fillSelect($("converter-filter"), "any", machines);
}

function showError(e) {
  const p = $("error");
  p.textContent = e ? String(e.message || e) : "";
  p.hidden = !e;
}

// Names: this node's and its peers'; an id ending only where no name is known.
function nameOf(id) {
  if (!id) return "";
  return state.names.get(id) || "…" + id.slice(-6);
}

function rememberNames() {
  state.names = new Map();
  if (state.me) state.names.set(state.me.node_id, state.me.name);
  for (const p of state.peers) state.names.set(p.node_id, p.name || "…" + p.node_id.slice(-6));
  fillMachineFilters();
}

function isOpen(v) { return v.status === "to_do" || v.status === "in_progress"; }

const FINAL_PHASES = ["delivered", "failed", "cancelled"];

// Whether an item the live stream brings belongs on the filtered list (as the node decides).
function matches(v) {
  const f = state.filters;
  const st = f.state === "" ? true
    : f.state === "open" ? !FINAL_PHASES.includes(v.phase)
    : f.state === "ended" ? FINAL_PHASES.includes(v.phase)
    : v.phase === f.state;
  return st && (!f.origin || v.client_id === f.origin)
    && (!f.converter || v.server_id === f.converter)
    && (!f.profile || v.conversion_type === f.profile);
}

function duration(secs) {
  if (secs == null) return "";
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}

function bytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// An item's place in its converter's queue in the words of `dmc status`
// (ItemView::queue_text): "3rd in queue"; null when it does not wait in one.
function queueWords(v) {
  const n = v.queue_position;
  if (n == null) return null;
  const suffix = [11, 12, 13].includes(n % 100) ? "th"
    : n % 10 === 1 ? "st" : n % 10 === 2 ? "nd" : n % 10 === 3 ? "rd" : "th";
  return `${n}${suffix} in queue`;
}

function progressCell(v) {
  const td = el("td", { "data-label": "Progress" });
  if (isOpen(v) && v.progress > 0) {
    const pct = Math.round(v.progress * 100);
    const bar = el("div", { class: "bar", title: `${pct}%` }, el("span"));
    bar.firstChild.style.width = `${pct}%`;
    const parts = [`${pct}%`];
    if (v.fps) parts.push(`${v.fps.toFixed(0)} fps`);
    if (v.speed) parts.push(`${v.speed.toFixed(1)}×`);
    if (v.eta_secs != null) parts.push(`ETA ${duration(v.eta_secs)}`);
    td.append(bar, el("div", { class: "speed" }, parts.join(" · ")));
  } else if (v.phase === "delivered") {
    td.append(bytes(v.output_file_size));
  } else if (queueWords(v)) {
    td.append(el("div", { class: "speed queue-position" }, queueWords(v)));
  } else if (isOpen(v) && v.waiting_reason) {
    td.append(el("div", { class: "speed" }, v.waiting_reason));
  }
  return td;
}

function itemRow(v) {
  const tr = el("tr", { "data-item-id": v.item_id },
    el("td", { class: "file", "data-label": "File" }, v.file_name),
    el("td", { "data-label": "Profile" }, v.conversion_type),
    el("td", { "data-label": "Origin" }, nameOf(v.client_id)),
    el("td", { "data-label": "Converter" }, v.server_name || nameOf(v.server_id)),
    el("td", { class: `phase ${v.phase}`, "data-label": "Phase" }, v.phase.replace(/_/g, " ")),
    progressCell(v));
  tr.addEventListener("click", () => openDetail(v.item_id));
  return tr;
}

function renderItems() {
  const rows = state.items.map(itemRow);
  $("items").tBodies[0].replaceChildren(...rows);
  $("items-empty").hidden = rows.length > 0;
  const last = Math.min(state.offset + state.items.length, state.total);
  $("page-info").textContent = state.total
    ? `${state.offset + 1}–${last} of ${state.total}` : "";
  $("newer").disabled = state.offset === 0;
  $("older").disabled = last >= state.total;
}

// A realtime factor as the CLI writes it: 0.25x, 1.5x, 2x.
function factor(speed) {
  return `${Number(speed.toFixed(2))}x`;
}

// The node's queue estimate in the words of `dmc list`'s `queue:` line.
function queueText(q) {
  if (!q || q.to_do === 0) return "";
  const what = `${q.to_do} item${q.to_do === 1 ? "" : "s"} to do`;
  if (q.converters_online === 0) return `${what}, no converter online`;
  if (!q.done_in_secs) return `${what}, finish time unknown`;
  const [lo, hi] = q.done_in_secs;
  const span = lo === hi ? duration(lo) : `${duration(lo)}–${duration(hi)}`;
  const [slow, fast] = q.speeds.map(factor);
  const speeds = slow === fast ? slow : `${slow}–${fast}`;
  const basis = q.speed_source === "measured"
    ? `at ${speeds}, measured on this LAN` : `no speed measured yet: assumed ${speeds}`;
  return `${what}, done in about ${span} (${basis})`;
}

async function loadPage() {
  const q = new URLSearchParams({ all: "true", limit: PAGE_SIZE, offset: state.offset });
  for (const [k, v] of Object.entries(state.filters)) if (v) q.set(k, v);
  const page = await api("GET", `/v1/items?${q}`);
  state.items = page.items;
  state.total = page.total;
  $("queue").textContent = queueText(page.queue);
  renderItems();
}

function field(dl, name, value) {
  if (value == null || value === "") return;
  dl.append(el("dt", {}, name), el("dd", {}, value));
}

// The segment counts of an item converted in segments, in the words of `dmc status`
// (ItemView::segments_text): "5 of 8 done, 1 kept from before a restart; encoded on a, b".
function segmentsText(s, on) {
  if (!s) return null;
  const counts = `${s.done} of ${s.total} done`;
  const done = s.kept ? `${counts}, ${s.kept} kept from before a restart` : counts;
  return on && on.length ? `${done}; encoded on ${on.join(", ")}` : done;
}

function renderDetail() {
  const v = state.detail;
  if (!v) return;
  $("detail-name").textContent = v.file_name;
  const dl = $("detail-fields");
  dl.replaceChildren();
  field(dl, "Phase", v.phase.replace(/_/g, " "));
  field(dl, "Waiting", v.waiting_reason);
  field(dl, "Queue", queueWords(v));
  field(dl, "Priority", String(v.priority ?? 0));
  field(dl, "Segments", segmentsText(v.segments, v.segment_converters));
  field(dl, "Profile", v.conversion_type);
  field(dl, "Origin", nameOf(v.client_id));
  field(dl, "Converter", v.server_name || nameOf(v.server_id));
  field(dl, "Attempt (epoch)", v.epoch);
  field(dl, "Offered", v.created_at);
  field(dl, "Updated", v.updated_at);
  field(dl, "Source size", bytes(v.file_size));
  field(dl, "Source SHA-512", v.sha512_checksum || "being read by the origin");
  field(dl, "Result", v.output_file_name);
  field(dl, "Result size", bytes(v.output_file_size));
  field(dl, "Result SHA-512", v.output_sha512_checksum);
  field(dl, "Result path", v.output_path);
  field(dl, "Item id", v.item_id);
  const errs = v.errors.map((e) => el("li", {}, e));
  $("detail-errors").replaceChildren(...(errs.length ? errs : [el("li", { class: "empty" }, "none")]));
  const rej = v.rejections.map((r) => el("li", {},
    `${r.server_name || nameOf(r.server_id)} (attempt ${r.epoch}): ${r.reason}`));
  $("detail-rejections").replaceChildren(...(rej.length ? rej : [el("li", { class: "empty" }, "none")]));
  const att = (v.attempts || []).map((a, n) => el("li", {}, attemptText(a, n + 1)));
  $("detail-attempts").replaceChildren(...(att.length ? att : [el("li", { class: "empty" }, "none")]));
  const mine = v.client_id === state.me?.node_id;
  $("priority-form").hidden = !isOpen(v) || !mine;
  if (document.activeElement !== $("priority-value")) $("priority-value").value = v.priority ?? 0;
  $("cancel").hidden = !isOpen(v) || !mine;
  $("retry").hidden = v.phase !== "failed" || !mine;
  const dl2 = $("download");
  dl2.hidden = !v.output_path;
  dl2.href = v.output_path ? `/v1/items/${v.item_id}/result` : "#";
}

// One attempt in the words of `dmc status` (AttemptView::line): "2. failed on attic:
// assigned …, accepted …, ended …: ffmpeg exited 1".
function attemptText(a, n) {
  let line = `${n}. ${a.outcome.replace(/_/g, " ")} on ${a.server_name || nameOf(a.server_id)}: assigned ${a.assigned_at}`;
  if (a.accepted_at) line += `, accepted ${a.accepted_at}`;
  if (a.ended_at) line += `, ended ${a.ended_at}`;
  if (a.reason) line += `: ${a.reason}`;
  return line;
}

// Gives the open item a new priority (POST /v1/items/{id}/priority, as `dmc priority`).
async function setPriority(e) {
  e.preventDefault();
  try {
    showError(null);
    const priority = Number($("priority-value").value);
    if (!Number.isInteger(priority)) throw new Error("the priority must be a whole number");
    onItem(await api("POST", `/v1/items/${state.detail.item_id}/priority`, { priority }));
  } catch (err) { showError(err); }
}

function show(view) {
  state.view = view;
  $("items-view").hidden = view !== "items";
  $("item-detail").hidden = view !== "detail";
  $("machines-view").hidden = view !== "machines";
  $("tab-items").classList.toggle("active", view !== "machines");
  $("tab-machines").classList.toggle("active", view === "machines");
}

async function openDetail(id) {
  try {
    state.detail = await api("GET", `/v1/items/${id}`);
    renderDetail();
    show("detail");
  } catch (e) { showError(e); }
}

function renderMachines() {
  const rows = state.peers.map((p) => el("tr", {},
    el("td", { class: "file", "data-label": "Name" }, p.name || nameOf(p.node_id)),
    el("td", { "data-label": "Role" }, p.role),
    el("td", { "data-label": "Online" }, p.online ? "online"
      : p.seen_secs_ago != null ? `seen ${duration(p.seen_secs_ago)} ago` : "never seen"),
    el("td", { "data-label": "Profiles" }, p.profiles.join(", ")),
    el("td", { "data-label": "Workers" }, p.workers == null ? ""
      : p.free_slots == null ? p.workers : `${p.workers - p.free_slots} busy / ${p.workers}`),
    el("td", { "data-label": "Speed" }, p.measured_speed == null ? "" : factor(p.measured_speed)),
    el("td", { "data-label": "Refused" }, [p.rejected, p.over_budget?.reason].filter(Boolean).join("; "))));
  $("machines").tBodies[0].replaceChildren(...rows);
  $("machines-empty").hidden = rows.length > 0;
}

function onItem(v) {
  const i = state.items.findIndex((x) => x.item_id === v.item_id);
  const fits = matches(v);
  if (i >= 0 && fits) state.items[i] = v;
  else if (i >= 0) {
    // It left the filter (say, open → delivered): off the list, as a reload would show.
    state.items.splice(i, 1);
    state.total = Math.max(0, state.total - 1);
  } else if (state.offset === 0 && fits) {
    state.items.unshift(v);
    state.total += 1;
    if (state.items.length > PAGE_SIZE) state.items.pop();
  }
  if (i >= 0 || (state.offset === 0 && fits)) renderItems();
  if (state.detail && state.detail.item_id === v.item_id) {
    state.detail = v;
    renderDetail();
  }
  refreshQueueSoon();
}

// The queue's estimate covers items on every page: asked of the node again (one small page)
// at most once a second while items change.
let queueTimer = null;
function refreshQueueSoon() {
  if (queueTimer) return;
  queueTimer = setTimeout(async () => {
    queueTimer = null;
    try {
      const page = await api("GET", "/v1/items?all=true&limit=1");
      $("queue").textContent = queueText(page.queue);
    } catch (e) { showError(e); }
  }, 1000);
}

function follow() {
  const live = $("live");
  const events = new EventSource("/v1/events");
  events.addEventListener("ready", () => { live.textContent = "live"; live.classList.remove("off"); });
  events.addEventListener("item", (e) => onItem(JSON.parse(e.data)));
  events.addEventListener("peers", (e) => {
    state.peers = JSON.parse(e.data);
    rememberNames();
    renderMachines();
  });
  events.addEventListener("resync", () => { loadPage().catch(showError); });
  events.onerror = () => { live.textContent = "reconnecting…"; live.classList.add("off"); };
}

function wire() {
  wireUploads();
  $("tab-items").onclick = () => show("items");
  $("tab-machines").onclick = () => show("machines");
  $("back").onclick = () => show("items");
  for (const key of Object.keys(state.filters)) {
    $(`${key}-filter`).onchange = (e) => {
      state.filters[key] = e.target.value;
      state.offset = 0;
      loadPage().catch(showError);
    };
  }
  $("newer").onclick = () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadPage().catch(showError); };
  $("older").onclick = () => { state.offset += PAGE_SIZE; loadPage().catch(showError); };
  $("retry").onclick = retry;
  $("priority-form").onsubmit = setPriority;
  $("cancel").onclick = async () => {
    try {
      showError(null);
      onItem(await api("POST", `/v1/items/${state.detail.item_id}/cancel`));
    } catch (e) { showError(e); }
  };
}

// Offers a failed item's source again (POST /v1/items/{id}/retry) and opens the new item.
async function retry() {
  try {
    showError(null);
    const done = await api("POST", `/v1/items/${state.detail.item_id}/retry`);
    if (!state.items.some((x) => x.item_id === done.item.item_id)) onItem(done.item);
    await openDetail(done.item.item_id);
  } catch (e) { showError(e); }
}

async function start() {
  wire();
  try {
    state.csrf = (await api("GET", "/v1/gui/session")).csrf_token;
    [state.me, state.peers] = await Promise.all([api("GET", "/v1/info"), api("GET", "/v1/peers")]);
    $("node-name").textContent = state.me.name;
    rememberNames();
    renderMachines();
    follow();
    await Promise.all([loadPage(), loadProfiles()]);
  } catch (e) { showError(e); }
}

start();

"use strict";
// The read-only portal: calendar, approval queue, and one change's timeline with its proofs.
// Everything is drawn with textContent (never innerHTML): the data comes from users.

const TOKEN_KEY = "changeward.token";
const GOOD = new Set(["approved", "completed", "accepted", "successful", "pass"]);
const BAD = new Set(["rejected", "failed", "rolled_back", "cancelled", "fail"]);

class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get line() {
    const { title, detail } = this.body;
    return title && detail && title !== detail ? `${title}: ${detail}` : this.message;
  }
}

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name === "on") Object.entries(value).forEach(([e, f]) => node.addEventListener(e, f));
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fill(container, ...children) {
  container.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function badge(status) {
  const kind = GOOD.has(status) ? "good" : BAD.has(status) ? "bad" : "busy";
  return el("span", { class: `badge ${kind}` }, status || "-");
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 16).replace("T", " ") + "Z";
}

function changeLink(id, text) {
  return el("a", { href: `#change=${id}`, "data-change-id": id }, text || id);
}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {
    headers: token ? { Authorization: `Bearer ${token}`, Accept: "application/json" } : {},
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Problem(response.status, body);
  return body;
}

const itemsOf = (body) => (Array.isArray(body) ? body : (body && body.items) || []);
const notServedHere = (error) => error instanceof Problem && [404, 405].includes(error.status);

function errorLine(error) {
  return el("p", { class: "error" }, error instanceof Problem ? error.line : String(error));
}

function showWho() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return fill($("who"), "no token");
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    fill($("who"), `${claims.sub} (${(claims.roles || []).join(", ")})`);
  } catch (error) {
    fill($("who"), "a token that is not a JWT");
  }
}

// --- the calendar: change windows and freeze windows, day by day ---

async function loadCalendar() {
  const days = Number($("days").value);
  const from = new Date();
  const to = new Date(from.getTime() + days * 86400000);
  const query = new URLSearchParams({
    window_from: from.toISOString(),
    window_to: to.toISOString(),
    limit: "200",
  });
  const entries = [];
  try {
    const page = await api(`/v1/changes?${query}`);
    for (const change of itemsOf(page)) {
      entries.push({ kind: "change", start: change.window.start, end: change.window.end, change });
    }
  } catch (error) {
    const message = notServedHere(error)
      ? "Changes are not served by this process; open the portal through the gateway."
      : null;
    fill($("calendar-body"), message ? el("p", { class: "muted" }, message) : errorLine(error));
    return;
  }
  fill($("freeze-note"));
  try {
    for (const freeze of itemsOf(await api("/v1/freeze-windows"))) {
      if (!freeze.lifted_at && new Date(freeze.end) > from && new Date(freeze.start) < to) {
        entries.push({ kind: "freeze", start: freeze.start, end: freeze.end, freeze });
      }
    }
  } catch (error) {
    fill($("freeze-note"), notServedHere(error) ? "Freeze windows are not served here." : error.line);
  }
  entries.sort((a, b) => new Date(a.start) - new Date(b.start));
  fill($("calendar-body"), entries.length ? calendarDays(entries, from) : emptyCalendar(days));
}

function emptyCalendar(days) {
  return el("p", { class: "muted" }, `No change windows or freezes in the next ${days} days.`);
}

function calendarDays(entries, from) {
  const byDay = new Map();
  for (const entry of entries) {
    const start = new Date(entry.start) < from ? from : new Date(entry.start);
    const day = start.toISOString().slice(0, 10);
    if (!byDay.has(day)) byDay.set(day, []);
    byDay.get(day).push(entry);
  }
  return [...byDay].map(([day, dayEntries]) =>
    el("div", { class: "day" }, el("h3", {}, day), dayEntries.map(calendarItem)),
  );
}

function calendarItem(entry) {
  const [start, end] = [when(entry.start), when(entry.end)];
  const span = `${start.slice(11)} - ${start.slice(0, 10) === end.slice(0, 10) ? end.slice(11) : end.slice(5)}`;
  if (entry.kind === "freeze") {
    const { freeze } = entry;
    const scope = `${(freeze.services || []).join(", ") || "all services"} in ${
      freeze.environment || "every environment"
    }`;
    return el(
      "div",
      { class: "item freeze" },
      el("span", { class: "mono" }, span),
      el("span", {}, el("strong", {}, "Freeze: "), freeze.reason || "", el("br"), scope),
      el("span", { class: "badge bad" }, "freeze"),
    );
  }
  const { change } = entry;
  return el(
    "div",
    { class: "item", "data-change-id": change.id },
    el("span", { class: "mono" }, span),
    el(
      "span",
      {},
      changeLink(change.id, change.title),
      el("br"),
      el("span", { class: "muted" }, `${change.services.join(", ")} in ${change.environment}`),
    ),
    el("span", {}, badge(change.status), " ", change.impact_level || ""),
  );
}

// --- the approval queue ---

async function loadQueue() {
  fill($("queue-note"));
  try {
    fill($("queue-body"), queueTable(itemsOf(await api("/v1/reviews?pending_for=me&limit=100"))));
    return;
  } catch (error) {
    if (!notServedHere(error) && error.status !== 422) {
      fill($("queue-body"), errorLine(error));
      return;
    }
  }
  // A server without the personal queue: show every assessed change awaiting a decision.
  try {
    const assessed = itemsOf(await api("/v1/changes?status=assessed&limit=100"));
    fill($("queue-note"), "Assessed changes awaiting approval (this server has no personal queue).");
    const asQueue = assessed.map((c) => ({ ...c, change_id: c.id }));
    fill($("queue-body"), queueTable(asQueue, { personal: false }));
  } catch (error) {
    fill($("queue-body"), errorLine(error));
  }
}

function queueTable(items, { personal = true } = {}) {
  if (!items.length) return el("p", { class: "muted" }, "Nothing awaits a decision.");
  const head = personal ? ["change", "impact", "assessed", "needs"] : ["change", "impact", "window", "requester"];
  const rows = items.map((item) => {
    const needs = (item.required_approvals || []).map((r) => `${r.count} x ${r.role}`).join(", ");
    return el(
      "tr",
      { "data-change-id": item.change_id },
      el("td", {}, changeLink(item.change_id, item.title)),
      el("td", {}, item.impact_level || "-"),
      el("td", {}, when(personal ? item.assessed_at : item.window.start)),
      el("td", {}, personal ? needs : item.requester),
    );
  });
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

// --- one change: summary, ledger timeline, proofs ---

async function loadChange(id) {
  $("change-id").value = id;
  const body = $("change-body");
  fill(body, el("p", { class: "muted" }, "Loading..."));
  let change;
  let timeline;
  try {
    [change, timeline] = await Promise.all([
      api(`/v1/changes/${encodeURIComponent(id)}`),
      api(`/v1/audit/changes/${encodeURIComponent(id)}`),
    ]);
  } catch (error) {
    fill(body, errorLine(error));
    return;
  }
  const proof = el("div", { class: "proof" }, "Checking the ledger...");
  const table = timelineTable(timeline.entries);
  fill(body, changeSummary(change), proof, table);
  await proveTimeline(timeline.entries, proof, table);
}

function changeSummary(change) {
  const fields = [
    ["title", change.title],
    ["status", badge(change.status)],
    ["impact level", change.impact_level || "not assessed yet"],
    ["category", change.category],
    ["services", `${change.services.join(", ")} in ${change.environment}`],
    ["window", `${when(change.window.start)} - ${when(change.window.end)}`],
    ["requester", change.requester],
    ["outcome", change.outcome || "-"],
  ];
  return el("dl", { id: "change-summary" }, fields.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function timelineTable(entries) {
  const rows = entries.map((entry) =>
    el(
      "tr",
      { "data-sequence": entry.sequence },
      el("td", { class: "mono" }, entry.sequence),
      el("td", {}, when(entry.time)),
      el("td", {}, entry.type),
      el("td", {}, entry.actor),
      el("td", {}, entry.source.replace("/changeward/", "")),
      el("td", { class: "proof-cell" }, "..."),
    ),
  );
  const head = ["#", "time", "event", "actor", "service", "inclusion proof"];
  return el(
    "table",
    { id: "timeline" },
    el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  );
}

async function proveTimeline(entries, banner, table) {
  let verdict;
  let head;
  let key;
  try {
    [verdict, head, key] = await Promise.all([
      api("/v1/audit/verify"),
      api("/v1/audit/tree-head"),
      api("/v1/audit/public-key"),
    ]);
  } catch (error) {
    banner.className = "proof bad";
    fill(banner, error instanceof Problem ? error.line : String(error));
    return;
  }
  const signature = await Ledger.verifyTreeHead(head, key.public_key);
  let included = 0;
  for (const entry of entries) {
    const cell = table.querySelector(`tr[data-sequence="${entry.sequence}"] .proof-cell`);
    cell.textContent = await entryProof(entry, head);
    if (cell.textContent.startsWith("included")) included += 1;
  }
  const chain = verdict.ok
    ? `Ledger verified: ${verdict.entries} entries, hash chain and Merkle tree intact.`
    : `Ledger check FAILED at entry ${verdict.first_bad.sequence}: ${verdict.first_bad.reason}.`;
  const signed = {
    valid: "its signature is valid",
    invalid: "its signature is INVALID",
    unchecked: "its signature was not checked in this browser",
  }[signature];
  const tree = `Signed tree head: ${head.size} entries, root ${head.root.slice(0, 16)}..., ${signed}.`;
  const proofs = `${included} of ${entries.length} entries of this change proven included.`;
  const good = verdict.ok && signature !== "invalid" && included === entries.length;
  banner.className = `proof ${good ? "good" : "bad"}`;
  banner.id = "ledger-status";
  fill(banner, chain, el("br"), tree, el("br"), proofs);
}

async function entryProof(entry, head) {
  if (entry.sequence > head.size) return "after the signed head";
  try {
    const proof = await api(`/v1/audit/proofs/inclusion?entry=${entry.sequence}&size=${head.size}`);
    if (!Ledger.available()) return "proof fetched (not checked: needs https)";
    return (await Ledger.verifyInclusion(proof, head.root))
      ? `included in the tree of ${head.size}`
      : "NOT included";
  } catch (error) {
    return error instanceof Problem ? error.line : String(error);
  }
}

// --- wiring ---

function route() {
  const match = /^#change=([0-9a-fA-F-]{36})$/.exec(location.hash);
  if (match) loadChange(match[1]);
}

function refresh() {
  showWho();
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  loadCalendar();
  loadQueue();
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    refresh();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  $("days").addEventListener("change", loadCalendar);
  $("change-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("change-id").value.trim();
    if (id) location.hash = `change=${id}`;
  });
  window.addEventListener("hashchange", route);
  refresh();
});

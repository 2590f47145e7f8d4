// The worker console: ask (answers as sections, citation chips, copy, feedback), conversations kept on the server
// and resumable, browsing the library, the reports board and the feedback review list.
// Every piece of server or model text goes into the page through textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { key: sessionStorage.getItem("gw_key") || "", labels: null, conversation: null, doc: null, ticket: null };

// -- small helpers -------------------------------------------------------------------------------------------------
function el(tag, props, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else node.setAttribute(k, v);
  }
  for (const c of children || []) if (c) node.appendChild(c);
  return node;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function zh(table, id, fallback) {
  const t = (state.labels && state.labels[table]) || {};
  return id in t ? t[id] : (fallback !== undefined ? fallback : "其他");
}
function modeZh(mode) {
  if (!mode) return "未知";
  if (mode.startsWith("extractive (fallback")) return zh("modes", "extractive (fallback: llm unavailable)");
  return zh("modes", mode, "未知");
}
function when(iso) {
  if (!iso) return "";
  // SQLite hands timestamps back without their offset; they are UTC
  const d = new Date(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + "Z"); if (isNaN(d)) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
function maskPhone(text) { return (text || "").replace(/(1[3-9]\d)\d{4}(\d{4})/g, "$1****$2"); }

class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }

async function api(path, options) {
  const opts = options || {};
  const headers = { "Authorization": "Bearer " + state.key };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  } catch (e) { throw new ApiError(0, "网络错误，请稍后再试。"); }
  const data = await r.json().catch(() => ({}));
  if (r.status === 401 && !opts.keep401) { logout(data.message || "登录已失效，请重新登录。"); }
  if (!r.ok) throw new ApiError(r.status, data.message || "请求失败，请稍后再试。");
  return data;
}

// -- login and views -----------------------------------------------------------------------------------------------
async function login(candidate) {
  const r = await fetch("/v1/whoami", { headers: { "Authorization": "Bearer " + candidate } });
  if (!r.ok) { const e = await r.json().catch(() => ({})); throw new Error(e.message || "登录失败"); }
  state.key = candidate; sessionStorage.setItem("gw_key", candidate);
  $("login").classList.add("hidden"); $("app").classList.remove("hidden");
  $("tabs").classList.remove("hidden"); $("logout").classList.remove("hidden");
  $("who").textContent = "已登录（网格员）";
  state.labels = await api("/v1/console/labels");
  fillSelects();
  await loadCategories();
  await loadConversations();
  const kept = localStorage.getItem("gw_conv");
  if (kept) await openConversation(kept, true);
  document.body.dataset.ready = "1";
}

function logout(message) {
  sessionStorage.removeItem("gw_key"); state.key = "";
  $("app").classList.add("hidden"); $("tabs").classList.add("hidden"); $("logout").classList.add("hidden");
  $("login").classList.remove("hidden"); $("who").textContent = "";
  $("login-error").textContent = message || "";
  delete document.body.dataset.ready;
}

function show(view) {
  for (const v of ["ask", "browse", "board", "review"]) $("view-" + v).classList.toggle("hidden", v !== view);
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.view === view);
  if (view === "browse" && !$("browse-body").firstChild) browseCategories();
  if (view === "board") loadBoard();
  if (view === "review") loadReview();
}

function fillSelects() {
  const fill = (sel, table) => {
    while (sel.options.length > 1) sel.remove(1);
    for (const [id, name] of Object.entries(state.labels[table])) sel.appendChild(el("option", { value: id, text: name }));
  };
  fill($("f-status"), "report_statuses");
  fill($("f-category"), "report_categories");
  fill($("r-verdict"), "verdicts");
}

async function loadCategories() {
  const r = await fetch("/v1/categories"); if (!r.ok) return;
  state.categories = await r.json();
  const sel = $("category");
  if (sel.options.length > 1) return;
  for (const c of state.categories) sel.appendChild(el("option", { value: c.id, text: c.name }));
}

// -- answers -------------------------------------------------------------------------------------------------------
// The answer text marks its parts with 【依据】, 【下一步】 …: each becomes a heading over its body.
function sections(text) {
  const out = []; let current = { title: null, lines: [] };
  for (const line of (text || "").split("\n")) {
    const m = line.match(/^\s*【([^】]{1,16})】\s*(.*)$/);
    if (m) {
      if (current.title !== null || current.lines.some((l) => l.trim())) out.push(current);
      current = { title: m[1], lines: m[2] ? [m[2]] : [] };
    } else current.lines.push(line);
  }
  if (current.title !== null || current.lines.some((l) => l.trim())) out.push(current);
  return out.map((s) => ({ title: s.title, body: s.lines.join("\n").trim() }));
}

function renderAnswer(a) {
  const box = el("div", { class: "answer" });
  for (const s of sections(a.answer)) {
    if (s.title === null) { box.appendChild(el("p", { class: "preface", text: s.body })); continue; }
    box.appendChild(el("section", { class: "ans-sec" }, [
      el("h4", { class: "sec-title", text: s.title }), el("div", { class: "sec-body", text: s.body }),
    ]));
  }
  return box;
}

function badges(a) {
  const b = el("div", { class: "badges" });
  const add = (text, cls) => b.appendChild(el("span", { text, class: cls }));
  add("身份：" + zh("personas", a.persona, "网格员"));
  add("模式：" + modeZh(a.mode));
  if (a.emergency) add("紧急：" + ((a.emergency_kinds || []).map((k) => zh("emergencies", k)).join("、") || "危险情况"), "emergency");
  if (a.refused) add("未作答：" + zh("refusals", a.refusal_reason, "无法回答"), "refused");
  if (a.hedged) add("依据可能不完整，建议转人工核实", "refused");
  if (a.removed_citations) add("已删除无依据引用 " + a.removed_citations + " 处", "refused");
  if (a.timings && a.timings.total !== undefined) add("耗时 " + Math.round(a.timings.total) + " 毫秒");
  return b;
}

function plainText(a) {
  const lines = [a.answer.trim()];
  if (a.citations && a.citations.length) {
    lines.push("", "引用：");
    for (const c of a.citations) lines.push(c.label);
  }
  return lines.join("\n");
}

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); return true; }
  } catch (e) { /* fall back below */ }
  const area = el("textarea", { readonly: "", class: "offscreen" });
  area.value = text; document.body.appendChild(area); area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  area.remove();
  return ok;
}

function turnCard(a) {
  const status = el("span", { class: "status muted" });
  const note = el("textarea", { class: "fb-note", placeholder: "补充说明（可选，最多 500 字）" });
  const form = el("form", { class: "fb-form hidden" }, [note, el("div", { class: "row" }, [el("button", { class: "fb-send primary", type: "submit", text: "提交反馈" })])]);
  let verdict = null;
  const vote = (v, text) => el("button", { type: "button", class: "vote", "data-verdict": v, text, on: { click: (ev) => {
    verdict = v;
    for (const b of card.querySelectorAll(".vote")) b.classList.toggle("chosen", b === ev.currentTarget);
    form.classList.remove("hidden"); note.focus();
  } } });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!a.turn_id) { status.textContent = "这条答复没有记录，无法反馈。"; status.className = "status error"; return; }
    try {
      await api("/v1/feedback", { method: "POST", body: { turn_id: a.turn_id, verdict, note: note.value.trim() || null } });
      status.textContent = "已提交反馈（" + zh("verdicts", verdict) + "），可在「反馈记录」中查看。"; status.className = "status ok";
      form.classList.add("hidden");
    } catch (e) { status.textContent = e.message; status.className = "status error"; }
  });
  const chips = el("div", { class: "chips" });
  if (a.citations && a.citations.length) {
    chips.appendChild(el("span", { class: "chips-label", text: "引用：" }));
    for (const c of a.citations) chips.appendChild(el("button", { type: "button", class: "chip", text: c.label, on: { click: () => openCitation(c) } }));
  }
  const card = el("article", { class: "turn card", "data-turn-id": a.turn_id || "" }, [
    el("div", { class: "q", text: a.question }), badges(a), renderAnswer(a), chips,
    el("div", { class: "actions" }, [
      el("button", { type: "button", class: "copy", text: "复制", on: { click: async () => {
        const ok = await copyText(plainText(a));
        status.textContent = ok ? "已复制到剪贴板。" : "复制失败，请手动选择文字复制。"; status.className = ok ? "status ok" : "status error";
      } } }),
      vote("useful", "有用"), vote("not_useful", "没用"), status,
    ]),
    form,
  ]);
  return card;
}

function addTurn(a) {
  const empty = $("thread-empty"); if (empty) empty.remove();
  const card = turnCard(a);
  $("thread").appendChild(card);
  return card;
}

function docMeta(d) {
  const parts = [];
  if (d.level_zh) parts.push("效力层级：" + d.level_zh);
  if (d.effective_date) parts.push((d.level === "guide" ? "更新日期：" : "施行日期：") + d.effective_date);
  if (d.category_name) parts.push("类别：" + d.category_name);
  return parts;
}

function openCitation(c) {
  $("dlg-title").textContent = c.doc_title || c.title;
  $("dlg-meta").textContent = docMeta(c).join("　");
  $("dlg-label").textContent = c.article || c.label;
  $("dlg-text").textContent = c.text;
  $("dlg-open-doc").classList.toggle("hidden", !c.doc_id);
  $("dlg-open-doc").onclick = () => { $("article-dialog").close(); show("browse"); openDocument(c.doc_id, c.point_id); };
  $("article-dialog").showModal();
}

async function ask(ev) {
  ev.preventDefault();
  const q = $("question").value.trim();
  $("ask-error").textContent = "";
  if (!q) { $("ask-error").textContent = "请输入问题。"; return; }
  $("ask-btn").disabled = true; $("ask-btn").textContent = "正在查询…";
  try {
    const body = { question: q, persona: $("persona").value, category: $("category").value || null, conversation_id: state.conversation };
    const a = await api("/v1/ask", { method: "POST", body });
    if (state.conversation !== a.conversation_id) { state.conversation = a.conversation_id; localStorage.setItem("gw_conv", a.conversation_id); }
    addTurn(a).scrollIntoView({ block: "start" });
    $("question").value = "";
    loadConversations();
  } catch (e) { if (e.status !== 401) $("ask-error").textContent = e.message; }
  finally { $("ask-btn").disabled = false; $("ask-btn").textContent = "提问"; }
}

function newConversation() {
  state.conversation = null; localStorage.removeItem("gw_conv");
  clear($("thread")).appendChild(el("p", { class: "muted", id: "thread-empty", text: "已开始新对话。" }));
  for (const li of document.querySelectorAll("#conversations li")) li.classList.remove("current");
}

async function loadConversations() {
  let list = [];
  try { list = await api("/v1/conversations"); } catch (e) { return; }
  const ul = clear($("conversations"));
  if (!list.length) ul.appendChild(el("li", { class: "muted", text: "还没有对话。" }));
  for (const c of list) {
    ul.appendChild(el("li", { class: c.conversation_id === state.conversation ? "conv current" : "conv", "data-id": c.conversation_id,
      on: { click: () => openConversation(c.conversation_id) } }, [
      el("span", { class: "c-title", text: c.title }),
      el("span", { class: "c-meta", text: when(c.updated_at) + " · " + c.turns + " 问" }),
    ]));
  }
}

async function openConversation(id, quiet) {
  try {
    const conv = await api("/v1/conversations/" + encodeURIComponent(id));
    state.conversation = conv.conversation_id; localStorage.setItem("gw_conv", conv.conversation_id);
    clear($("thread"));
    for (const t of conv.turns) addTurn(t);
    for (const li of document.querySelectorAll("#conversations li")) li.classList.toggle("current", li.dataset.id === id);
    show("ask");
  } catch (e) {
    if (e.status === 404) { localStorage.removeItem("gw_conv"); state.conversation = null; }
    if (!quiet) $("ask-error").textContent = e.message;
  }
}

// -- browse --------------------------------------------------------------------------------------------------------
function crumbs(items) {
  const nav = clear($("crumbs"));
  items.forEach((it, i) => {
    if (i) nav.appendChild(el("span", { class: "sep", text: "›" }));
    nav.appendChild(it.go ? el("button", { type: "button", text: it.text, on: { click: it.go } }) : el("span", { text: it.text }));
  });
}

function browseCategories() {
  crumbs([{ text: "全部类别" }]);
  const grid = el("div", { class: "cat-grid" });
  for (const c of state.categories || []) {
    grid.appendChild(el("button", { type: "button", class: "cat", "data-id": c.id, title: c.description || "", on: { click: () => browseCategory(c.id) } }, [
      el("span", { text: c.name }),
    ]));
  }
  clear($("browse-body")).appendChild(grid);
}

async function browseCategory(id) {
  const body = clear($("browse-body"));
  body.appendChild(el("p", { class: "muted", text: "正在读取…" }));
  try {
    const data = await api("/v1/categories/" + encodeURIComponent(id) + "/documents");
    crumbs([{ text: "全部类别", go: browseCategories }, { text: data.category.name }]);
    clear(body);
    if (data.category.description) body.appendChild(el("p", { class: "muted", text: data.category.description }));
    for (const d of data.documents) {
      body.appendChild(el("button", { type: "button", class: "doc", "data-id": d.doc_id, on: { click: () => openDocument(d.doc_id) } }, [
        el("div", { class: "doc-title", text: d.title }),
        el("div", { class: "meta", text: docMeta(d).slice(0, 2).concat([d.articles + " 条"]).join("　") }),
      ]));
    }
    if (!data.documents.length) body.appendChild(el("p", { class: "muted", text: "这个类别下还没有文件。" }));
  } catch (e) { clear(body).appendChild(el("p", { class: "error", text: e.message })); }
}

async function openDocument(docId, pointId) {
  const body = clear($("browse-body"));
  body.appendChild(el("p", { class: "muted", text: "正在读取…" }));
  try {
    const d = await api("/v1/documents/" + encodeURIComponent(docId));
    const cat = (state.categories || []).find((c) => c.id === d.category);
    crumbs([{ text: "全部类别", go: browseCategories }, { text: cat ? cat.name : d.category_name, go: () => browseCategory(d.category) }, { text: d.title }]);
    clear(body);
    const head = el("div", { class: "card doc-head" }, [el("h2", { text: d.title }), el("p", { class: "meta" }, docMeta(d).map((t) => el("span", { text: t })))]);
    body.appendChild(head);
    const list = el("div", { class: "card articles" });
    let target = null, lastCrumb = "";
    for (const a of d.articles) {
      const crumb = [a.chapter, a.section].filter(Boolean).join(" › ");
      // an article's text starts with its own number (第一条 …): set it in bold rather than repeat it as a heading
      const numbered = a.kind === "article" && a.text.startsWith(a.heading);
      const text = numbered
        ? el("div", { class: "text" }, [el("strong", { class: "art-no", text: a.heading }), document.createTextNode(a.text.slice(a.heading.length))])
        : el("div", { class: "text", text: a.text });
      const node = el("div", { class: "article", "data-point-id": a.point_id }, [
        crumb && crumb !== lastCrumb ? el("div", { class: "crumb", text: crumb }) : null,
        numbered ? null : el("h4", { class: "art-no", text: a.heading }), text,
      ]);
      lastCrumb = crumb;
      if (pointId && a.point_id === pointId) { node.classList.add("highlight"); target = node; }
      list.appendChild(node);
    }
    body.appendChild(list);
    if (target) target.scrollIntoView({ block: "center" });
  } catch (e) { clear(body).appendChild(el("p", { class: "error", text: e.message })); }
}

// -- reports board -------------------------------------------------------------------------------------------------
let boardSeq = 0;
async function loadBoard(ev) {
  if (ev) ev.preventDefault();
  $("board-error").textContent = "";
  const params = new URLSearchParams();
  for (const [k, id] of [["status", "f-status"], ["grid", "f-grid"], ["category", "f-category"]]) { const v = $(id).value.trim(); if (v) params.set(k, v); }
  const query = params.toString(), seq = ++boardSeq;
  let list;
  try { list = await api("/v1/reports?" + query, { keep401: true }); }
  catch (e) {
    if (seq !== boardSeq) return;
    $("board-error").textContent = e.status === 401 ? "当前密钥无权查看工单（需要指挥中心的服务令牌）。" : e.message;
    clear($("board-list")); return;
  }
  if (seq !== boardSeq) return;  // a later query has been sent: its answer is the one to show
  const tbody = el("tbody");
  for (const r of list) {
    tbody.appendChild(el("tr", { class: "ticket-row", "data-ticket": r.ticket, on: { click: () => openTicket(r.ticket) } }, [
      el("td", { "data-label": "工单号", text: r.ticket }),
      el("td", { "data-label": "类别", text: zh("report_categories", r.category) }),
      el("td", { "data-label": "状态" }, [el("span", { class: "status-pill", text: zh("report_statuses", r.status) })]),
      el("td", { "data-label": "网格", text: r.location.grid || "未分配" }),
      el("td", { "data-label": "地点", text: r.location.text || r.location.label || "" }),
      el("td", { "data-label": "提交时间", class: "nowrap", text: when(r.created_at) }),
    ]));
  }
  const head = el("thead", {}, [el("tr", {}, ["工单号", "类别", "状态", "网格", "地点", "提交时间"].map((t) => el("th", { text: t })))]);
  const box = clear($("board-list"));
  box.dataset.query = query;
  box.appendChild(list.length ? el("table", { class: "list" }, [head, tbody]) : el("p", { class: "muted", text: "没有符合条件的工单。" }));
}

function field(dl, name, value) { if (value) { dl.appendChild(el("dt", { text: name })); dl.appendChild(el("dd", { text: value })); } }

function renderTicket(r) {
  state.ticket = r.ticket;
  const box = clear($("ticket"));
  box.classList.remove("hidden");
  box.appendChild(el("h3", {}, [el("span", { text: "工单 " + r.ticket + "　" }), el("span", { class: "status-pill", id: "ticket-status", text: zh("report_statuses", r.status) })]));
  const dl = el("dl", { class: "fields" });
  field(dl, "类别", zh("report_categories", r.category));
  field(dl, "紧急程度", zh("urgencies", r.urgency));
  field(dl, "地点", [r.location.text, r.location.label].filter(Boolean).join("　"));
  field(dl, "网格", r.location.grid || "未分配");
  field(dl, "情况", r.description);
  field(dl, "发生时间", r.occurred_at);
  field(dl, "联系电话", maskPhone(r.contact));
  field(dl, "提交时间", when(r.created_at));
  field(dl, "评价", r.rating ? r.rating + " 星" : "");
  box.appendChild(dl);
  const events = el("ul", { class: "plain events", id: "ticket-events" });
  for (const e of r.events || []) {
    const move = e.to ? (e.from ? zh("report_statuses", e.from) + " → " : "") + zh("report_statuses", e.to) : "";
    events.appendChild(el("li", {}, [
      el("div", { class: "meta", text: when(e.at) + "　" + zh("events", e.kind, "记录") }),
      el("div", { text: [move, e.kind === "rating" ? "" : e.note].filter(Boolean).join("；") }),
    ]));
  }
  box.appendChild(el("h3", { text: "处理记录" }));
  box.appendChild(events);
  const to = el("select", { id: "ticket-to" });
  const allowed = (state.labels.transitions[r.status] || []);
  for (const s of ["assigned", "in_progress", "resolved", "closed", "reopened"]) {
    to.appendChild(el("option", { value: s, text: zh("report_statuses", s) + (allowed.includes(s) ? "" : "（当前不可选）") }));
  }
  if (allowed.length) to.value = allowed[0];
  const note = el("input", { id: "ticket-note", maxlength: "1000", placeholder: "处理说明（可选）" });
  const msg = el("p", { id: "ticket-msg" });
  const form = el("form", { class: "row", id: "ticket-form" }, [el("label", { text: "改为 " }, [to]), note, el("button", { class: "primary", type: "submit", id: "ticket-go", text: "更新状态" })]);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const updated = await api("/v1/reports/" + encodeURIComponent(r.ticket), { method: "PATCH", body: { status: to.value, note: note.value.trim() || null }, keep401: true });
      renderTicket(updated);
      $("ticket-msg").textContent = "已更新为「" + zh("report_statuses", updated.status) + "」。"; $("ticket-msg").className = "ok";
      loadBoard();
    } catch (e) { msg.textContent = e.message; msg.className = "error"; }
  });
  box.appendChild(form);
  box.appendChild(msg);
}

async function openTicket(ticket) {
  try { renderTicket(await api("/v1/reports/" + encodeURIComponent(ticket), { keep401: true })); $("ticket").scrollIntoView({ block: "start" }); }
  catch (e) { $("board-error").textContent = e.message; }
}

// -- review list ---------------------------------------------------------------------------------------------------
async function loadReview() {
  $("review-error").textContent = "";
  const v = $("r-verdict").value;
  let list;
  try { list = await api("/v1/feedback" + (v ? "?verdict=" + encodeURIComponent(v) : "")); }
  catch (e) { $("review-error").textContent = e.message; return; }
  const box = clear($("review-list"));
  if (!list.length) { box.appendChild(el("p", { class: "muted", text: "还没有反馈。在答复下点「有用」或「没用」即可提交。" })); return; }
  const tbody = el("tbody");
  for (const f of list) {
    tbody.appendChild(el("tr", { class: "review-row" }, [
      el("td", { "data-label": "时间", class: "nowrap", text: when(f.at) }),
      el("td", { "data-label": "问题", class: "wide", text: f.question }),
      el("td", { "data-label": "答复摘要", text: f.answer_excerpt }),
      el("td", { "data-label": "评价", class: "verdict nowrap", text: zh("verdicts", f.verdict) }),
      el("td", { "data-label": "说明", class: "note wide", text: f.note || "" }),
    ]));
  }
  const head = el("thead", {}, [el("tr", {}, ["时间", "问题", "答复摘要", "评价", "说明"].map((t) => el("th", { class: "nowrap", text: t })))]);
  box.appendChild(el("table", { class: "list" }, [head, tbody]));
}

// -- wiring --------------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault(); $("login-error").textContent = "";
    try { await login($("key").value.trim()); } catch (e) { $("login-error").textContent = e.message; }
  });
  $("ask-form").addEventListener("submit", ask);
  $("new-conv").addEventListener("click", newConversation);
  $("logout").addEventListener("click", () => logout(""));
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => show(t.dataset.view));
  $("board-filter").addEventListener("submit", loadBoard);
  $("r-go").addEventListener("click", loadReview);
  $("r-verdict").addEventListener("change", loadReview);
  $("dlg-close").addEventListener("click", () => $("article-dialog").close());
  if (state.key) login(state.key).catch(() => logout(""));
});

// The emulator's dashboard. It holds no rules of its own: everything it shows comes from the
// control API (/_emulator/...), and every action it offers is a control API call.
"use strict";
(function () {
  const POLL_MS = 1000;
  const PAGE_SIZE = 50;
  const INBOX_KEPT = 2000; // callbacks the page holds (the newest); the inbox itself keeps them all
  const REQUESTS_PROBE_MS = 30000;
  const STATUS_COLOURS = {
    pending: "#8f5500", reserved: "#1f62c7", assigned: "#1b7f3b", wrapping: "#7b3fb2",
    completed: "#59636e", canceled: "#b3261e",
  };
  // activities: greens for those that make a worker available, other colours for the rest
  const AVAILABLE_COLOURS = ["#1b7f3b", "#00807f", "#4d7c0f"];
  const UNAVAILABLE_COLOURS = ["#59636e", "#8f5500", "#7b3fb2", "#b3261e", "#1f62c7", "#8a5a00"];

  const S = {
    auth: sessionStorage.getItem("taskrouter-dashboard-auth"),
    user: sessionStorage.getItem("taskrouter-dashboard-user"),
    paused: false,
    view: "workspace",
    account: null,
    workspace: null,
    taskPage: 0, workerPage: 0, reservationPage: 0,
    taskStatus: "", taskQueue: "", reservationStatus: "",
    detail: null, // {kind: "task" | "worker", sid}
    inbox: new Map(), inboxOpen: new Set(), inboxPage: 0, inboxCount: 0, inboxLastId: 0,
    requestsAvailable: null, requestsProbedAt: 0, requests: [], requestsPage: 0, requestsLastId: null,
    requestsOpen: new Set(),
    seen: {}, // the last JSON text rendered per view, to skip unchanged renders
    activities: [],
    timer: null, running: false, again: false,
  };
  window.dashboardTimings = { workspaceRenderMs: null, workspaceFetchMs: null, ticks: 0 };

  const $ = (id) => document.getElementById(id);

  // --- DOM helpers -----------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
    for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return el;
  }

  // Replace a container's content, keeping keyboard focus on the element with the same data-key.
  function replace(container, ...children) {
    const active = document.activeElement;
    const key = active && container.contains(active) ? active.getAttribute("data-key") : null;
    const open = new Set([...container.querySelectorAll("details[open][data-key]")].map((d) => d.getAttribute("data-key")));
    container.replaceChildren(...children.flat(Infinity).filter(Boolean));
    for (const d of container.querySelectorAll("details[data-key]")) if (open.has(d.getAttribute("data-key"))) d.open = true;
    if (key) {
      const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  }

  function changed(name, value) {
    const text = JSON.stringify(value);
    if (S.seen[name] === text) return false;
    S.seen[name] = text;
    return true;
  }

  function statusChip(status, label) {
    return h("span", { class: `status status-${status}` }, label || status);
  }

  function sidButton(sid, label, onclick, key) {
    // the accessible name starts with the visible text (the SID), then says what the button does
    return h("button", { type: "button", class: "link", "data-key": key || sid, "aria-label": `${sid}: ${label}`, onclick }, sid);
  }

  function table(caption, headers, rows) {
    return h("div", { class: "table-wrap" }, h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", class: x.num ? "num" : null }, x.label || x)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "none")))));
  }

  function pager(what, page, pages, total, go) {
    const count = total === 1 ? `1 ${what.replace(/s$/, "")}` : `${total} ${what}`;
    if (pages <= 1) return h("p", { class: "pager muted" }, count);
    return h("div", { class: "pager" },
      h("button", { type: "button", "data-key": `${what}-prev`, disabled: page <= 0, "aria-label": `Previous page of ${what}`,
        onclick: () => go(page - 1) }, "Previous"),
      h("span", {}, `Page ${page + 1} of ${pages} (${count})`),
      h("button", { type: "button", "data-key": `${what}-next`, disabled: page >= pages - 1, "aria-label": `Next page of ${what}`,
        onclick: () => go(page + 1) }, "Next"));
  }

  function seconds(n) {
    if (n < 120) return `${n}s`;
    if (n < 7200) return `${Math.floor(n / 60)}m ${n % 60}s`;
    return `${Math.floor(n / 3600)}h ${Math.floor((n % 3600) / 60)}m`;
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? "" : "s"}`;
  }

  function announce(text) {
    $("status").textContent = text;
  }

  function showAlert(text) {
    const box = $("alert");
    box.textContent = text;
    box.hidden = !text;
  }

  // --- the control API ------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, { method = "GET", form = null } = {}) {
    const headers = { Accept: "application/json" };
    if (S.auth) headers.Authorization = S.auth;
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (form) {
      init.body = new URLSearchParams(form);
      headers["Content-Type"] = "application/x-www-form-urlencoded";
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (response.status === 401) {
      askForCredentials(body && body.message);
      throw new ApiError(response.status, (body && body.message) || "credentials needed");
    }
    if (!response.ok) throw new ApiError(response.status, (body && body.message) || `${response.status} ${response.statusText}`);
    return { body, text };
  }

  function askForCredentials(message) {
    const dialog = $("auth-dialog");
    $("auth-message").textContent = S.auth && message ? `Refused: ${message}` : "";
    S.needsAuth = true;
    renderAuthButton();
    if (!dialog.open) {
      $("auth-password").value = "";
      S.paused = true;
      dialog.showModal();
    }
  }

  // Escape closes the dialog: updates stay paused until the person signs in (the Sign in button).
  $("auth-dialog").addEventListener("cancel", () => showAlert("The control API needs credentials: use Sign in."));

  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = $("auth-user").value.trim();
    const password = $("auth-password").value;
    S.auth = "Basic " + btoa(unescape(encodeURIComponent(`${user}:${password}`)));
    sessionStorage.setItem("taskrouter-dashboard-auth", S.auth);
    S.user = user;
    sessionStorage.setItem("taskrouter-dashboard-user", user);
    $("auth-dialog").close();
    showAlert("");
    S.paused = $("pause-button").getAttribute("aria-pressed") === "true";
    refreshSoon();
  });

  const base = () => `/_emulator/dashboard/accounts/${encodeURIComponent(S.account)}/workspaces/${encodeURIComponent(S.workspace)}`;

  // --- polling --------------------------------------------------------------------------------
  function schedule() {
    clearTimeout(S.timer);
    S.timer = setTimeout(tick, POLL_MS);
  }

  function refreshSoon() {
    if (S.running) { S.again = true; return; }
    clearTimeout(S.timer);
    tick(true);
  }

  async function tick(forced) {
    if ((S.paused || document.hidden) && !forced) return schedule();
    S.running = true;
    try {
      const { body: state } = await api("/_emulator/dashboard/state");
      renderClock(state.clock);
      renderAccess(state.access);
      renderAccounts(state.accounts);
      await Promise.all([refreshWorkspace(), refreshDetail(), refreshInbox(state.inbox), refreshRequests()]);
      window.dashboardTimings.ticks += 1;
      if (S.tickFailed) { S.tickFailed = false; showAlert(""); }
      $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        showAlert(`Update failed: ${error.message}`);
        S.tickFailed = true;
      }
    } finally {
      S.running = false;
      if (S.again) { S.again = false; tick(true); } else schedule();
    }
  }

  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshSoon(); });

  // --- clock and actions ----------------------------------------------------------------------
  function renderClock(clock) {
    $("clock-now").textContent = clock.now;
    $("clock-mode").textContent = clock.mode;
    $("clock-mode").setAttribute("aria-label", `clock mode ${clock.mode}`);
    $("set-now").placeholder = clock.now.replace(/\.\d+Z$/, "Z");
  }

  // What the caller may do: an account's own credentials see that account and cannot move the
  // clock every account shares, take a snapshot of all of them or reset them all.
  function renderAccess(access) {
    if (!changed("access", [access, S.user])) return;
    const all = access.all_accounts;
    for (const id of ["advance-form", "set-form"]) {
      for (const el of $(id).elements) el.disabled = !all;
    }
    $("snapshot-button").disabled = !all;
    $("reset-account").value = all ? "" : access.account_sid;
    $("reset-account").readOnly = !all;
    $("access-note").hidden = all;
    $("access-note").textContent = all ? "" : `Signed in as ${access.account_sid}: the clock and snapshots need the admin token.`;
    renderAuthButton();
  }

  function renderAuthButton() {
    $("auth-button").hidden = !S.auth && !S.needsAuth;
    const user = S.user && S.user.length > 16 ? `${S.user.slice(0, 6)}…${S.user.slice(-4)}` : S.user || "";
    $("auth-button").textContent = S.auth ? `Sign out ${user}`.trim() : "Sign in";
  }

  $("auth-button").addEventListener("click", () => {
    if (!S.auth) return askForCredentials();
    S.auth = S.user = null;
    $("auth-user").value = "";
    sessionStorage.removeItem("taskrouter-dashboard-auth");
    sessionStorage.removeItem("taskrouter-dashboard-user");
    delete S.seen.access;
    renderAuthButton();
    refreshSoon();
  });

  async function act(what, call) {
    try {
      const result = await call();
      showAlert("");
      announce(what(result));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showAlert(error.message);
    }
    refreshSoon();
  }

  $("advance-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const secondsValue = $("advance-seconds").value;
    act((r) => `Clock advanced by ${secondsValue} s to ${r.body.now}`,
      () => api("/_emulator/clock/advance", { method: "POST", form: { Seconds: secondsValue } }));
  });

  $("set-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = {};
    if ($("set-now").value.trim()) form.Now = $("set-now").value.trim();
    if ($("set-mode").value) form.Mode = $("set-mode").value;
    act((r) => `Clock set to ${r.body.now} (${r.body.mode})`, async () => {
      const result = await api("/_emulator/clock", { method: "POST", form });
      $("set-now").value = "";
      return result;
    });
  });

  $("snapshot-button").addEventListener("click", () => act((r) => `Snapshot downloaded (${Math.ceil(r.size / 1024)} KB)`, async () => {
    const { text, body } = await api("/_emulator/snapshot", { method: "POST" });
    const when = ((body && body.clock && body.clock.now) || new Date().toISOString()).replace(/[:.]/g, "-");
    const blob = new Blob([text], { type: "application/json" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `taskrouter-snapshot-${when}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    return { size: text.length };
  }));

  $("reset-button").addEventListener("click", () => {
    if (!$("reset-account").readOnly) $("reset-account").value = "";
    $("reset-dialog").showModal();
  });
  $("reset-dialog").addEventListener("close", () => {
    if ($("reset-dialog").returnValue !== "reset") return;
    const account = $("reset-account").value.trim();
    act(() => account ? `Account ${account} reset` : "Emulator reset", async () => {
      const result = await api("/_emulator/reset", { method: "POST", form: account ? { AccountSid: account } : {} });
      S.inbox.clear();
      S.inboxLastId = 0;
      closeDetail();
      return result;
    });
  });

  $("pause-button").addEventListener("click", () => {
    const pressed = $("pause-button").getAttribute("aria-pressed") !== "true";
    $("pause-button").setAttribute("aria-pressed", String(pressed));
    $("pause-button").textContent = pressed ? "Resume updates" : "Pause updates";
    S.paused = pressed;
    announce(pressed ? "Updates paused" : "Updates resumed");
    if (!pressed) refreshSoon();
  });

  // --- accounts and workspaces ----------------------------------------------------------------
  function renderAccounts(accounts) {
    const all = accounts.flatMap((a) => a.workspaces.map((w) => [a.account_sid, w.sid]));
    if (S.workspace && !all.some(([a, w]) => a === S.account && w === S.workspace)) {
      S.workspace = null;
      closeDetail();
    }
    if (!S.workspace && all.length) [S.account, S.workspace] = all[0];
    syncHash();
    if (!changed("accounts", [accounts, S.account, S.workspace])) return;
    const list = $("accounts-list");
    if (!accounts.length) {
      replace(list, h("p", { class: "muted" }, "No workspaces yet."));
      return;
    }
    replace(list, accounts.map((account) => [
      h("h3", { id: `acct-${account.account_sid}` }, account.account_sid),
      h("ul", { "aria-labelledby": `acct-${account.account_sid}` }, account.workspaces.map((w) => {
        const current = account.account_sid === S.account && w.sid === S.workspace;
        return h("li", {}, h("button", {
          type: "button", "data-key": `ws-${w.sid}`, "aria-current": current ? "true" : null,
          onclick: () => selectWorkspace(account.account_sid, w.sid),
        }, w.friendly_name, h("span", { class: "meta" }, `${plural(w.tasks, "task")} · ${plural(w.workers, "worker")} · ${plural(w.task_queues, "queue")}`)));
      })),
    ]));
  }

  // Where the page is, in its address (#view=..&account=..&workspace=..&task=..|worker=..), so a
  // view can be reloaded, bookmarked or sent to someone looking at the same emulator.
  function syncHash() {
    const state = new URLSearchParams();
    state.set("view", S.view);
    if (S.workspace) { state.set("account", S.account); state.set("workspace", S.workspace); }
    if (S.detail) state.set(S.detail.kind, S.detail.sid);
    const hash = `#${state}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
  }

  function readHash() {
    const state = new URLSearchParams(location.hash.slice(1));
    const view = state.get("view");
    if (["workspace", "inbox", "requests"].includes(view)) S.view = view;
    if (state.get("account") && state.get("workspace")) {
      S.account = state.get("account");
      S.workspace = state.get("workspace");
    }
    const kind = state.get("task") ? "task" : state.get("worker") ? "worker" : null;
    S.detail = kind ? { kind, sid: state.get(kind) } : null;
  }

  function selectWorkspace(account, workspace) {
    S.account = account;
    S.workspace = workspace;
    S.taskPage = S.workerPage = S.reservationPage = 0;
    S.taskQueue = "";
    $("task-queue").value = "";
    closeDetail();
    showView("workspace");
    refreshSoon();
  }

  // --- the workspace view ---------------------------------------------------------------------
  async function refreshWorkspace() {
    if (!S.workspace) {
      $("workspace-heading").textContent = "No workspace selected";
      $("workspace-empty").hidden = false;
      $("workspace-body").hidden = true;
      return;
    }
    const query = new URLSearchParams({ PageSize: PAGE_SIZE, TaskPage: S.taskPage, WorkerPage: S.workerPage,
      ReservationPage: S.reservationPage });
    if (S.taskStatus) query.set("TaskStatus", S.taskStatus);
    if (S.taskQueue) query.set("TaskQueueSid", S.taskQueue);
    if (S.reservationStatus) query.set("ReservationStatus", S.reservationStatus);
    const started = performance.now();
    const { body } = await api(`${base()}?${query}`);
    window.dashboardTimings.workspaceFetchMs = performance.now() - started;
    if (body.workspace.sid !== S.workspace) return; // another workspace was picked meanwhile
    if (!changed("workspace", body)) return;
    const renderStart = performance.now();
    renderWorkspace(body);
    window.dashboardTimings.workspaceRenderMs = performance.now() - renderStart;
  }

  function renderWorkspace(data) {
    const ws = data.workspace;
    S.activities = data.activities;
    $("workspace-heading").textContent = `Workspace ${ws.friendly_name}`;
    $("workspace-empty").hidden = true;
    $("workspace-body").hidden = false;
    S.taskPage = data.tasks.page;
    S.workerPage = data.workers.page;
    S.reservationPage = data.reservations.page;

    const queueSelect = $("task-queue");
    const options = [h("option", { value: "" }, "any"), ...data.task_queues.map((q) => h("option", { value: q.sid }, q.friendly_name))];
    if (changed("queue-options", data.task_queues.map((q) => [q.sid, q.friendly_name]))) {
      queueSelect.replaceChildren(...options);
      queueSelect.value = S.taskQueue;
    }

    replace($("queues"), table(`${plural(data.task_queues.length, "task queue")} in ${ws.sid}`, [
      "Queue", "Target workers", { label: "Waiting", num: true }, { label: "Reserved", num: true },
      { label: "Assigned", num: true }, { label: "Wrapping", num: true }, { label: "Eligible workers", num: true },
      { label: "Available workers", num: true }, { label: "Longest wait", num: true }, "Order"],
    data.task_queues.map((q) => {
      const rt = q.realtime;
      return h("tr", { "data-sid": q.sid },
        h("th", { scope: "row" }, q.friendly_name, h("div", { class: "mono muted" }, q.sid)),
        h("td", { class: "mono" }, q.target_workers || "(every worker)"),
        h("td", { class: "num" }, rt.tasks_by_status.pending), h("td", { class: "num" }, rt.tasks_by_status.reserved),
        h("td", { class: "num" }, rt.tasks_by_status.assigned), h("td", { class: "num" }, rt.tasks_by_status.wrapping),
        h("td", { class: "num" }, rt.total_eligible_workers), h("td", { class: "num" }, rt.total_available_workers),
        h("td", { class: "num" }, rt.longest_task_waiting_sid ? seconds(rt.longest_task_waiting_age) : "–"),
        h("td", {}, q.task_order));
    })));

    const workers = data.workers;
    replace($("workers"), table(`Workers of ${ws.friendly_name}, by name`, [
      "Worker", "Activity", "Channels (tasks / capacity)", "Holds"],
    workers.items.map((w) => h("tr", { "data-sid": w.sid },
      h("th", { scope: "row" }, w.friendly_name, " ",
        sidButton(w.sid, `worker ${w.friendly_name}, show activity over time`, () => openDetail("worker", w.sid))),
      h("td", {}, statusChip(w.available ? "assigned" : "completed", w.activity_name),
        h("span", { class: "visually-hidden" }, w.available ? " (available)" : " (unavailable)")),
      h("td", {}, h("div", { class: "chips" }, w.channels.filter((c) => c.configured_capacity > 0 || c.assigned_tasks > 0).map((c) => {
        const used = 100 - c.available_capacity_percentage;
        const meter = h("span", { class: "meter", "aria-hidden": "true" }, h("span"));
        meter.firstChild.style.width = `${used}%`;
        return h("span", { class: `chip${c.available ? "" : " off"}`,
          title: `${c.task_channel_unique_name}: ${c.assigned_tasks} assigned of ${c.configured_capacity}, ${c.available_capacity_percentage}% capacity free${c.available ? "" : ", channel unavailable"}` },
        meter, `${c.task_channel_unique_name} ${c.assigned_tasks}/${c.configured_capacity}`,
        h("span", { class: "visually-hidden" }, `, ${used}% in use${c.available ? "" : ", unavailable"}`));
      }))),
      h("td", { class: "holds" }, w.reservations.length ? w.reservations.map((r) => h("div", {},
        sidButton(r.task_sid, "show this task's timeline", () => openDetail("task", r.task_sid), `hold-${r.sid}`),
        " ", statusChip(r.reservation_status))) : h("span", { class: "muted" }, "nothing"))))),
    pager("workers", workers.page, workers.pages, workers.total, (p) => { S.workerPage = p; refreshSoon(); }));

    const tasks = data.tasks;
    const counts = Object.entries(tasks.by_status).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(", ") || "no tasks";
    replace($("tasks"), table(`Tasks, newest first: ${counts}`, [
      "Task", "Status", "Queue", { label: "Priority", num: true }, { label: "Age", num: true }, "Channel", "Attributes"],
    tasks.items.map((t) => h("tr", { "data-sid": t.sid },
      h("th", { scope: "row" }, sidButton(t.sid, "show this task's timeline", () => openDetail("task", t.sid))),
      h("td", {}, statusChip(t.assignment_status)),
      h("td", {}, t.task_queue_friendly_name || h("span", { class: "muted" }, "none")),
      h("td", { class: "num" }, t.priority), h("td", { class: "num" }, seconds(t.age)),
      h("td", {}, t.task_channel_unique_name || ""),
      h("td", { class: "mono" }, t.attributes.length > 80 ? t.attributes.slice(0, 80) + "…" : t.attributes)))),
    pager("tasks", tasks.page, tasks.pages, tasks.total, (p) => { S.taskPage = p; refreshSoon(); }));

    const reservations = data.reservations;
    replace($("reservations"), table("Reservations, newest first", [
      "Reservation", "Status", "Task", "Worker", "Created", "Updated"],
    reservations.items.map((r) => h("tr", { "data-sid": r.sid },
      h("th", { scope: "row", class: "mono" }, r.sid),
      h("td", {}, statusChip(r.reservation_status)),
      h("td", {}, sidButton(r.task_sid, "show this task's timeline", () => openDetail("task", r.task_sid), `res-task-${r.sid}`)),
      h("td", {}, r.worker_name || "", " ",
        sidButton(r.worker_sid, `worker ${r.worker_name}, show activity over time`, () => openDetail("worker", r.worker_sid), `res-worker-${r.sid}`)),
      h("td", { class: "date" }, r.date_created), h("td", { class: "date" }, r.date_updated)))),
    pager("reservations", reservations.page, reservations.pages, reservations.total, (p) => { S.reservationPage = p; refreshSoon(); }));
  }

  $("task-status").addEventListener("change", (e) => { S.taskStatus = e.target.value; S.taskPage = 0; refreshSoon(); });
  $("task-queue").addEventListener("change", (e) => { S.taskQueue = e.target.value; S.taskPage = 0; refreshSoon(); });
  $("reservation-status").addEventListener("change", (e) => { S.reservationStatus = e.target.value; S.reservationPage = 0; refreshSoon(); });
  for (const form of document.querySelectorAll("form.filters")) form.addEventListener("submit", (e) => e.preventDefault());

  // --- one task's life, one worker's day ------------------------------------------------------
  function openDetail(kind, sid) {
    S.detail = { kind, sid };
    delete S.seen.detail;
    $("detail").hidden = false;
    $("detail-heading").textContent = `${kind === "task" ? "Task" : "Worker"} ${sid}`;
    replace($("detail-body"), h("p", { class: "muted" }, "Loading…"));
    syncHash();
    refreshSoon();
    $("detail").focus();
  }

  function closeDetail() {
    S.detail = null;
    $("detail").hidden = true;
    syncHash();
  }
  $("detail-close").addEventListener("click", () => { closeDetail(); $("main").focus(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && S.detail && !document.querySelector("dialog[open]")) closeDetail(); });

  async function refreshDetail() {
    if (!S.detail || !S.workspace) return;
    const { kind, sid } = S.detail;
    let body;
    try {
      ({ body } = await api(`${base()}/${kind}s/${encodeURIComponent(sid)}`));
    } catch (error) {
      if (error.status === 404) {
        if (changed("detail", "gone")) replace($("detail-body"), h("p", {}, `${kind === "task" ? "Task" : "Worker"} ${sid} is gone and none of its events are kept.`));
        return;
      }
      throw error;
    }
    if (!S.detail || S.detail.sid !== sid) return;
    if (!changed("detail", body)) return;
    if (kind === "task") renderTask(body);
    else renderWorker(body);
  }

  // Lanes of bars ([[{start, end, label, text, colour}]]) over [t0, t1], event marks on an axis
  // below them and ticks of seconds since t0.
  function timelineSvg(title, lanes, marks, t0, t1) {
    const width = 900, left = 8, right = 8, span = Math.max(1, t1 - t0), lane = 28;
    const x = (t) => left + ((t - t0) / span) * (width - left - right);
    const axis = 8 + lanes.length * lane + 4;
    const svg = s("svg", { class: "timeline", viewBox: `0 0 ${width} ${axis + 34}`, role: "img", "aria-label": title });
    svg.append(s("title", {}, title));
    lanes.forEach((spans, i) => {
      const y = 8 + i * lane;
      for (const sp of spans) {
        const x0 = Math.min(x(sp.start), width - right - 6), x1 = Math.max(x0 + 6, x(sp.end));
        svg.append(s("rect", { x: x0, y, width: x1 - x0, height: 22, fill: sp.colour, rx: 2 }, s("title", {}, sp.label)));
        if (x1 - x0 > 60) svg.append(s("text", { x: x0 + 4, y: y + 15, class: "on-bar" }, sp.text || sp.label));
      }
    });
    svg.append(s("line", { class: "axis", x1: left, x2: width - right, y1: axis, y2: axis }));
    for (const m of marks) {
      svg.append(s("line", { x1: x(m.t), x2: x(m.t), y1: axis - 6, y2: axis + 6, stroke: m.colour || "#334e68",
        "stroke-width": 2 }, s("title", {}, m.label)));
    }
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const t = t0 + f * span;
      svg.append(s("text", { class: "tick", x: Math.min(width - 40, x(t)), y: axis + 22 }, `+${seconds(Math.round((t - t0) / 1000))}`));
    }
    return svg;
  }

  // One bar per reservation of a task, from its first event to its last (to now while it lasts),
  // coloured and labelled by the status the reservation record has.
  function reservationLanes(events, reservations, t1) {
    const lanes = [];
    for (const r of reservations) {
      const own = events.filter((e) => e.resource_sid === r.sid);
      if (!own.length) continue;
      const live = ["pending", "accepted", "wrapping"].includes(r.reservation_status);
      const start = own[0].event_date_ms, end = live ? t1 : own[own.length - 1].event_date_ms;
      const status = r.reservation_status;
      const colour = { pending: "#1f62c7", accepted: "#1b7f3b", wrapping: "#7b3fb2", completed: "#59636e",
        timeout: "#8a5a00" }[status] || "#b3261e";
      const text = `${r.worker_name || r.worker_sid}: ${status}`;
      lanes.push([{ start, end, colour, text, label: `reservation ${r.sid} to ${text}, ${seconds(Math.round((end - start) / 1000))}` }]);
    }
    return lanes;
  }

  function legend(entries) {
    return h("div", { class: "legend", "aria-hidden": "true" }, entries.map(([label, colour]) => {
      const el = h("span", {}, label);
      el.style.setProperty("--swatch", colour);
      return el;
    }));
  }

  function eventList(events, t0, describe) {
    return h("ol", { class: "events" }, events.map((e) => h("li", {},
      h("span", { class: "when" }, `+${seconds(Math.round((e.event_date_ms - t0) / 1000))}`), " ",
      h("strong", {}, e.event_type), " ", describe(e))));
  }

  function describeTaskEvent(e) {
    const d = e.event_data;
    const parts = [];
    if (d.task_queue_name) parts.push(`queue ${d.task_queue_name}`);
    if (d.worker_name) parts.push(`worker ${d.worker_name}`);
    if (d.task_assignment_status) parts.push(`task ${d.task_assignment_status}`);
    if (d.workflow_filter_name) parts.push(`filter ${d.workflow_filter_name}`);
    return `${e.description}${parts.length ? ` (${parts.join(", ")})` : ""}`;
  }

  function renderTask(data) {
    const events = data.events;
    const t = data.task;
    const t0 = events.length ? events[0].event_date_ms : data.now_ms;
    // The task's status after each of its events, as the event itself reports it.
    const spans = [];
    for (const e of events) {
      const status = e.event_data.task_assignment_status;
      if (!status) continue;
      const last = spans[spans.length - 1];
      if (last && last.status === status) continue;
      if (last) last.end = e.event_date_ms;
      spans.push({ status, start: e.event_date_ms, end: null });
    }
    const finished = t === null || ["completed", "canceled"].includes(t.assignment_status);
    const t1 = finished && events.length ? Math.max(events[events.length - 1].event_date_ms, t0 + 1000) : Math.max(data.now_ms, t0 + 1000);
    for (const sp of spans) {
      if (sp.end === null) sp.end = ["completed", "canceled"].includes(sp.status) ? sp.start : t1;
      sp.colour = STATUS_COLOURS[sp.status] || "#59636e";
      sp.label = `${sp.status} for ${seconds(Math.round((sp.end - sp.start) / 1000))}`;
      sp.text = sp.status;
    }
    const marks = events.map((e) => ({ t: e.event_date_ms, label: `${e.event_type}: ${e.description}`,
      colour: e.event_type.startsWith("reservation.") ? "#1f62c7" : "#334e68" }));
    const summary = t ? h("dl", { class: "params" },
      h("dt", {}, "status"), h("dd", {}, t.assignment_status),
      h("dt", {}, "queue"), h("dd", {}, t.task_queue_friendly_name || "none"),
      h("dt", {}, "workflow"), h("dd", {}, t.workflow_friendly_name || "none"),
      h("dt", {}, "priority"), h("dd", {}, t.priority),
      h("dt", {}, "age"), h("dd", {}, seconds(t.age)),
      h("dt", {}, "attributes"), h("dd", {}, t.attributes))
      : h("p", {}, "This task has been deleted; its events are still kept.");
    replace($("detail-body"),
      summary,
      t && ["pending", "reserved"].includes(t.assignment_status) ? waitingIn(data.task_queue, t.assignment_status) : null,
      h("h3", {}, "Timeline"),
      timelineSvg(`Task status over time: ${spans.map((sp) => sp.label).join(", ")}; reservations: ${
        data.reservations.map((r) => `${r.worker_name} ${r.reservation_status}`).join(", ") || "none"}`,
      [spans, ...reservationLanes(events, data.reservations, t1)], marks, t0, t1),
      legend(Object.entries(STATUS_COLOURS)),
      eventList(events, t0, describeTaskEvent),
      table("Reservations of this task", ["Reservation", "Worker", "Status", "Created", "Updated"],
        data.reservations.map((r) => h("tr", {}, h("th", { scope: "row", class: "mono" }, r.sid),
          h("td", {}, r.worker_name || r.worker_sid), h("td", {}, statusChip(r.reservation_status)),
          h("td", { class: "date" }, r.date_created), h("td", { class: "date" }, r.date_updated)))));
  }

  // Who could take a waiting task: its queue's figures and the workers its TargetWorkers take,
  // each with its activity and its capacity on the task's channel.
  function waitingIn(queue, status) {
    if (!queue) return h("p", {}, "The task is in no queue.");
    const rt = queue.realtime;
    const more = queue.workers_total > queue.workers.length ? ` (the first ${queue.workers.length})` : "";
    return h("section", { "aria-labelledby": "waiting-heading" },
      h("h3", { id: "waiting-heading" }, `${status === "pending" ? "Waiting in" : "Reserved from"} ${queue.friendly_name}`),
      h("p", {}, `TargetWorkers ${queue.target_workers || "(every worker)"}: ${plural(rt.total_eligible_workers, "eligible worker")}, `
        + `${rt.total_available_workers} available; ${plural(rt.tasks_by_status.pending, "task")} waiting, `
        + `${rt.tasks_by_status.reserved} reserved.`),
      table(`Workers of ${queue.friendly_name}${more}`, ["Worker", "Activity", "Task's channel"],
        queue.workers.map((w) => h("tr", {},
          h("th", { scope: "row" }, w.friendly_name, " ",
            sidButton(w.sid, `worker ${w.friendly_name}, show activity over time`, () => openDetail("worker", w.sid), `q-${w.sid}`)),
          h("td", {}, statusChip(w.available ? "assigned" : "completed", w.activity_name),
            h("span", { class: "visually-hidden" }, w.available ? " (available)" : " (unavailable)")),
          h("td", {}, w.channel ? `${w.channel.task_channel_unique_name}: ${w.channel.assigned_tasks} of ${w.channel.configured_capacity}, `
            + `${w.channel.available_capacity_percentage}% free${w.channel.available ? "" : ", channel unavailable"}` : "no such channel")))));
  }

  function renderWorker(data) {
    const w = data.worker;
    const names = [...new Set([...S.activities.map((a) => a.friendly_name), ...data.activity_spans.map((sp) => sp.activity_name)])];
    const colours = {};
    const counts = [0, 0];
    for (const name of names) {
      const activity = S.activities.find((a) => a.friendly_name === name);
      const palette = activity && activity.available ? AVAILABLE_COLOURS : UNAVAILABLE_COLOURS;
      const i = activity && activity.available ? counts[0]++ : counts[1]++;
      colours[name] = palette[i % palette.length];
    }
    const colour = (name) => colours[name];
    const t0 = data.activity_spans.length ? data.activity_spans[0].start_ms : data.now_ms;
    const t1 = Math.max(data.now_ms, t0 + 1000);
    const spans = data.activity_spans.map((sp) => {
      const end = sp.end_ms === null ? t1 : sp.end_ms;
      return { start: sp.start_ms, end, colour: colour(sp.activity_name), text: sp.activity_name,
        label: `${sp.activity_name} for ${seconds(Math.round((end - sp.start_ms) / 1000))}` };
    });
    const marks = data.events.filter((e) => e.event_type.startsWith("reservation.")).map((e) => ({
      t: e.event_date_ms, label: `${e.event_type}: ${e.description}`, colour: "#1f62c7" }));
    replace($("detail-body"),
      h("dl", { class: "params" },
        h("dt", {}, "name"), h("dd", {}, w.friendly_name),
        h("dt", {}, "activity"), h("dd", {}, `${w.activity_name} (${w.available ? "available" : "unavailable"})`),
        h("dt", {}, "channels"), h("dd", {}, w.channels.map((c) => `${c.task_channel_unique_name} ${c.assigned_tasks}/${c.configured_capacity}${c.available ? "" : " (off)"}`).join(", ")),
        h("dt", {}, "attributes"), h("dd", {}, w.attributes)),
      h("h3", {}, "Activity over time"),
      timelineSvg(`Worker ${w.friendly_name} activity over time: ${spans.map((sp) => sp.label).join(", ")}`, [spans], marks, t0, t1),
      legend(names.map((n) => [n, colour(n)])),
      eventList(data.events, t0, (e) => e.description),
      table("Reservations of this worker", ["Reservation", "Task", "Status", "Created", "Updated"],
        data.reservations.map((r) => h("tr", {}, h("th", { scope: "row", class: "mono" }, r.sid),
          h("td", {}, sidButton(r.task_sid, "show this task's timeline", () => openDetail("task", r.task_sid), `wres-${r.sid}`)),
          h("td", {}, statusChip(r.reservation_status)), h("td", { class: "date" }, r.date_created), h("td", { class: "date" }, r.date_updated)))));
  }

  // --- views ----------------------------------------------------------------------------------
  function showView(view) {
    S.view = view;
    for (const button of document.querySelectorAll(".view-button")) {
      button.setAttribute("aria-current", button.dataset.view === view ? "page" : "false");
    }
    for (const name of ["workspace", "inbox", "requests"]) $(`view-${name}`).hidden = name !== view;
    if (view !== "workspace") closeDetail();
    syncHash();
    delete S.seen.inbox;
    delete S.seen.requests;
    refreshSoon();
  }
  for (const button of document.querySelectorAll(".view-button")) button.addEventListener("click", () => showView(button.dataset.view));

  // --- the inbox ------------------------------------------------------------------------------
  function delivery(r) {
    if (r.error) return ["failed", "failed"];
    if (r.response) return [r.response.status >= 200 && r.response.status < 300 ? "answered" : "failed", String(r.response.status)];
    if (r.done) return ["captured", "captured"];
    return ["waiting", "sending"];
  }

  async function refreshInbox(info) {
    if (!info) return; // this emulator keeps no inbox
    if (info.count < S.inboxCount || info.last_id < S.inboxLastId || info.count < S.inbox.size) {
      S.inbox.clear(); // cleared, reset or restored: read it again
      S.inboxLastId = 0;
    }
    S.inboxCount = info.count;
    $("inbox-count").textContent = `(${info.count})`;
    // records are re-read from the first one not finished yet, so their answers show up
    let after = S.inboxLastId;
    for (const r of S.inbox.values()) if (!r.done && r.id - 1 < after) after = r.id - 1;
    after = Math.max(after, info.last_id - INBOX_KEPT); // the newest records only: ids grow one by one
    if (info.last_id > S.inboxLastId || after < S.inboxLastId) {
      const { body } = await api(`/_emulator/webhooks?After=${after}`);
      for (const r of body.webhooks) {
        S.inbox.set(r.id, r);
        if (r.id > S.inboxLastId) S.inboxLastId = r.id;
      }
      for (const id of S.inbox.keys()) {
        if (S.inbox.size <= INBOX_KEPT) break;
        S.inbox.delete(id);
      }
    }
    if (S.view === "inbox") renderInbox();
  }

  function inboxMatches(r, kind, outcome, text, wsOnly) {
    if (kind && r.kind !== kind) return false;
    if (outcome && delivery(r)[0] !== outcome) return false;
    if (wsOnly && r.workspace_sid !== S.workspace) return false;
    if (!text) return true;
    const hay = [r.event_type, r.url, r.task_sid, r.reservation_sid, r.outcome, r.error, ...Object.entries(r.params).flat()].join(" ").toLowerCase();
    return hay.includes(text);
  }

  function renderInbox() {
    const kind = $("inbox-kind").value, outcome = $("inbox-outcome").value;
    const text = $("inbox-text").value.trim().toLowerCase(), wsOnly = $("inbox-workspace-only").checked;
    const rows = [...S.inbox.values()].filter((r) => inboxMatches(r, kind, outcome, text, wsOnly)).sort((a, b) => b.id - a.id);
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    S.inboxPage = Math.min(S.inboxPage, pages - 1);
    const shown = rows.slice(S.inboxPage * PAGE_SIZE, (S.inboxPage + 1) * PAGE_SIZE);
    if (!changed("inbox", [shown, S.inboxPage, rows.length])) return;
    const held = S.inboxCount > S.inbox.size ? ` (the newest ${S.inbox.size} of ${S.inboxCount})` : "";
    replace($("inbox"), table(`Callbacks, newest first: ${rows.length} of ${S.inbox.size}${held} shown by the filters`, [
      { label: "#", num: true }, "Virtual time", "Kind", "Event type", "URL", "Status", "Outcome", "Signed request"],
    shown.flatMap((r) => {
      const [state, label] = delivery(r);
      const open = S.inboxOpen.has(r.id);
      const detailId = `inbox-detail-${r.id}`;
      const toggle = h("button", { type: "button", class: "link", "data-key": `inbox-${r.id}`, "aria-expanded": String(open),
        "aria-controls": detailId, "aria-label": `${open ? "hide" : "show"} ${Object.keys(r.params).length} parameters of callback ${r.id}`,
        onclick: () => {
          if (S.inboxOpen.has(r.id)) S.inboxOpen.delete(r.id); else S.inboxOpen.add(r.id);
          delete S.seen.inbox;
          renderInbox();
        } }, `${open ? "hide" : "show"} ${Object.keys(r.params).length} parameters`);
      return [
        h("tr", { "data-id": r.id },
          h("td", { class: "num" }, r.id), h("td", { class: "date" }, r.timestamp), h("td", {}, r.kind),
          h("td", {}, r.event_type || ""), h("td", { class: "mono" }, r.url),
          h("td", {}, statusChip(state, label), r.error ? h("div", { class: "muted" }, r.error) : null),
          h("td", {}, r.outcome || ""), h("td", {}, toggle)),
        open ? h("tr", { id: detailId, class: "expanded" }, h("td", { colspan: 8 },
          h("div", { class: "columns" },
            h("div", {}, h("h4", {}, "Form parameters"),
              h("dl", { class: "params" }, Object.entries(r.params).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
            h("div", {}, h("h4", {}, `${r.method} headers`),
              h("dl", { class: "params" }, Object.entries(r.headers).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
              h("h4", {}, "Answer"),
              r.response ? h("pre", {}, `HTTP ${r.response.status}\n${r.response.body || ""}`)
                : h("p", { class: "muted" }, r.error || (r.done ? "captured, not sent" : "not answered yet")))))) : null,
      ];
    })),
    pager("callbacks", S.inboxPage, pages, rows.length, (p) => { S.inboxPage = p; renderInbox(); }));
  }
  for (const id of ["inbox-kind", "inbox-outcome", "inbox-text", "inbox-workspace-only"]) {
    $(id).addEventListener("input", () => { S.inboxPage = 0; renderInbox(); });
  }

  // --- the request log (shown when the emulator keeps one) ------------------------------------
  // Read while its view is open: the whole log when the view opens, then only what is newer.
  async function refreshRequests() {
    const now = Date.now();
    if (S.requestsAvailable === false && now - S.requestsProbedAt < REQUESTS_PROBE_MS) return;
    if (S.requestsAvailable && S.view !== "requests") { S.requestsLastId = null; return; }
    S.requestsProbedAt = now;
    const after = S.requestsLastId === null || S.requestsLastId === undefined ? 0 : S.requestsLastId;
    let body;
    try {
      ({ body } = await api(`/_emulator/requests?After=${after}`));
      S.requestsAvailable = true;
    } catch (error) {
      if (error.status === 401) throw error;
      S.requestsAvailable = false;
    }
    $("requests-tab").hidden = !S.requestsAvailable;
    if (!S.requestsAvailable) {
      if (S.view === "requests") showView("workspace");
      return;
    }
    if (after === 0) S.requests = [];
    for (const r of body.requests || []) {
      S.requests.push(r);
      S.requestsLastId = Math.max(S.requestsLastId || 0, r.id);
    }
    if (S.requestsLastId === null || S.requestsLastId === undefined) S.requestsLastId = 0;
    if (body.size && S.requests.length > body.size) S.requests = S.requests.slice(-body.size); // the log keeps the last N
    if (S.view === "requests") renderRequests();
  }

  function answerOf(r) {
    if (r.blocked) return ["failed", "blocked"];
    if (r.status === null || r.status === undefined) return ["waiting", "none"];
    return [r.status < 400 ? "answered" : "failed", String(r.status)];
  }

  function requestMatches(r, method, outcome, text) {
    if (method && r.method !== method) return false;
    if (outcome === "ok" && !(r.status >= 200 && r.status < 300)) return false;
    if (outcome === "client" && !(r.status >= 400 && r.status < 500)) return false;
    if (outcome === "server" && !(r.status >= 500)) return false;
    if (outcome === "fault" && !r.fault) return false;
    if (outcome === "blocked" && !r.blocked) return false;
    if (!text) return true;
    const hay = [r.path, r.host, r.account_sid, r.error_message, r.error_code, r.fault,
      JSON.stringify(r.parameters || {})].join(" ").toLowerCase();
    return hay.includes(text);
  }

  function renderRequests() {
    const method = $("requests-method").value, outcome = $("requests-outcome").value;
    const text = $("requests-text").value.trim().toLowerCase();
    const rows = S.requests.filter((r) => requestMatches(r, method, outcome, text)).reverse();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    S.requestsPage = Math.min(S.requestsPage, pages - 1);
    const shown = rows.slice(S.requestsPage * PAGE_SIZE, (S.requestsPage + 1) * PAGE_SIZE);
    if (!changed("requests", [shown, S.requestsPage, rows.length, [...S.requestsOpen]])) return;
    replace($("requests"), table(`Requests, newest first: ${rows.length} of ${S.requests.length} shown by the filters`, [
      { label: "#", num: true }, "Virtual time", "Method", "Path", "Answer", "Account", { label: "Took", num: true }, "Parameters"],
    shown.flatMap((r) => {
      const [state, label] = answerOf(r);
      const open = S.requestsOpen.has(r.id);
      const names = Object.keys(r.parameters || {});
      const detailId = `request-detail-${r.id}`;
      return [
        h("tr", { "data-id": r.id },
          h("td", { class: "num" }, r.id), h("td", { class: "date" }, r.timestamp), h("td", {}, r.method),
          h("td", { class: "mono wrap" }, r.path),
          h("td", { class: "wrap" }, statusChip(state, label),
            r.error_code ? h("div", { class: "muted" }, `${r.error_code} ${r.error_message || ""}`) : null,
            r.fault ? h("div", { class: "muted" }, `fault: ${r.fault}`) : null),
          h("td", { class: "mono wrap" }, r.account_sid || ""),
          h("td", { class: "num date" }, r.duration_ms !== undefined ? `${r.duration_ms} ms` : ""),
          h("td", {}, names.length ? h("button", { type: "button", class: "link", "data-key": `request-${r.id}`,
            "aria-expanded": String(open), "aria-controls": detailId,
            "aria-label": `${open ? "hide" : "show"} ${names.length} parameters of request ${r.id}`,
            onclick: () => {
              if (S.requestsOpen.has(r.id)) S.requestsOpen.delete(r.id); else S.requestsOpen.add(r.id);
              renderRequests();
            } }, `${open ? "hide" : "show"} ${names.length}`) : h("span", { class: "muted" }, "none"))),
        open ? h("tr", { id: detailId, class: "expanded" }, h("td", { colspan: 8 },
          h("dl", { class: "params" }, names.map((k) => [h("dt", {}, k),
            h("dd", {}, Array.isArray(r.parameters[k]) ? r.parameters[k].join(", ") : String(r.parameters[k]))])))) : null,
      ];
    })),
    pager("requests", S.requestsPage, pages, rows.length, (p) => { S.requestsPage = p; renderRequests(); }));
  }
  for (const id of ["requests-method", "requests-outcome", "requests-text"]) {
    $(id).addEventListener("input", () => { S.requestsPage = 0; renderRequests(); });
  }

  function start() {
    readHash();
    const detail = S.detail;
    showView(S.view);
    if (detail && S.view === "workspace") openDetail(detail.kind, detail.sid);
  }
  window.addEventListener("hashchange", start);
  start();
})();

// The openstage console: reads come from the console API and its live feed, every change goes through
// the AWS API itself (same origin, authenticated by the console's session cookie or open in development
// mode). Built with the DOM only: no framework, no build step, nothing loaded from elsewhere.

const CONSOLE_HEADER = { "X-Openstage-Console": "1" };
const TIMELINE_LIMIT = 200;
const REOPEN_DELAY_MS = 3000;
const REFRESH_DELAY_MS = 150; // coalesces a burst of participant events into one stage-page reload

const $ = (selector) => document.querySelector(selector);

const state = {
  stages: [],
  stageArn: null, // the stage page shown, or null for the list
  sessionId: null, // the session picked on the stage page, null for the active or newest one
  refreshTimer: null,
  feeds: [],
};

// --- DOM helpers -----------------------------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

function show(view) {
  for (const id of ["login-view", "stages-view", "stage-view"]) $(`#${id}`).hidden = id !== view;
}

function toast(text, isError = false) {
  const box = $("#toast");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), isError ? 8000 : 3000);
}

function time(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return h("time", { datetime: iso, title: moment.toISOString() }, moment.toLocaleTimeString());
}

function dateTime(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return h("time", { datetime: iso, title: moment.toISOString() }, moment.toLocaleString());
}

function stageId(arn) {
  return arn.split("/").pop();
}

function stageLink(arn, text) {
  return h("a", { href: `#/stage/${encodeURIComponent(arn)}`, dataset: { stage: arn } }, text);
}

// --- talking to the server ------------------------------------------------------------------------------

async function callAws(operation, body) {
  const response = await fetch(`/${operation}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...CONSOLE_HEADER },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 403 && /session/.test(answer.message || "")) startLogin();
    const kind = response.headers.get("x-amzn-ErrorType") || `HTTP ${response.status}`;
    throw new Error(`${kind}: ${answer.message || "no message"}`);
  }
  return answer;
}

async function read(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) {
    startLogin();
    throw new Error(answer.message || "log in first");
  }
  if (!response.ok) throw Object.assign(new Error(answer.message || `HTTP ${response.status}`), { status: response.status });
  return answer;
}

// --- login ------------------------------------------------------------------------------------------

async function start() {
  const session = await read("/api/console/session");
  $("#logout").hidden = session.devMode || !session.accessKeyId;
  $("#who").textContent = session.devMode ? "development mode" : session.accessKeyId ? `signed in as ${session.accessKeyId}` : "";
  if (!session.devMode && !session.accessKeyId) return startLogin();
  openFeeds();
  route();
}

function startLogin() {
  for (const feed of state.feeds) feed.close();
  state.feeds = [];
  setLive("offline");
  $("#logout").hidden = true;
  $("#who").textContent = "";
  show("login-view");
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  const body = { accessKeyId: form.accessKeyId.value.trim(), secretAccessKey: form.secretAccessKey.value };
  const response = await fetch("/api/console/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...CONSOLE_HEADER },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("#login-error").textContent = answer.message || `HTTP ${response.status}`;
    return;
  }
  form.reset();
  $("#login-error").textContent = "";
  await start();
}

async function logout() {
  await fetch("/api/console/logout", { method: "POST", headers: CONSOLE_HEADER, credentials: "same-origin" });
  startLogin();
}

// --- live feeds ---------------------------------------------------------------------------------------

function setLive(text) {
  const live = $("#live");
  live.textContent = text;
  live.dataset.state = text;
}

function openFeeds() {
  if (state.feeds.length) return;
  const feed = new EventSource("/api/console/feed");
  feed.addEventListener("open", () => setLive("live"));
  feed.addEventListener("error", () => {
    setLive("reconnecting…");
    // An expired session shows up as a feed that keeps failing: ask the server which it is.
    read("/api/console/session").then((session) => {
      if (!session.devMode && !session.accessKeyId) startLogin();
    }, () => {});
    // The browser retries a dropped connection itself, but gives up after an error answer: start over.
    if (feed.readyState === EventSource.CLOSED) setTimeout(reopenFeeds, REOPEN_DELAY_MS);
  });
  feed.addEventListener("overview", (message) => {
    state.stages = JSON.parse(message.data).stages;
    renderStages();
    // Events can arrive before the overview that names their stage: name their links now.
    for (const link of document.querySelectorAll("#timeline a[data-stage]")) link.textContent = stageName(link.dataset.stage);
    if (state.stageArn) scheduleStageRefresh();
  });
  feed.addEventListener("participant", (message) => {
    const event = JSON.parse(message.data);
    addToTimeline(participantEntry(event));
    if (event.stageArn === state.stageArn) scheduleStageRefresh();
  });
  const events = new EventSource("/api/events/stream");
  events.addEventListener("message", (message) => addToTimeline(eventBridgeEntry(JSON.parse(message.data))));
  state.feeds = [feed, events];
}

function reopenFeeds() {
  if ($("#login-view").hidden === false) return;
  for (const feed of state.feeds) feed.close();
  state.feeds = [];
  openFeeds();
}

function stageName(arn) {
  const stage = state.stages.find((candidate) => candidate.arn === arn);
  return stage && stage.name ? stage.name : stageId(arn);
}

function participantEntry(event) {
  const remote = event.remoteParticipantId ? ` → ${event.remoteParticipantId}` : "";
  const error = event.errorCode ? ` (${event.errorCode})` : "";
  return h(
    "li",
    { class: "participant-event", dataset: { name: event.name, participant: event.participantId } },
    time(event.eventTime),
    " ",
    h("span", { class: `tag ${event.name.toLowerCase()}` }, event.name),
    " ",
    h("strong", {}, event.userId || "(no user id)"),
    ` ${event.participantId}${remote}${error} on `,
    stageLink(event.stageArn, stageName(event.stageArn)),
  );
}

function eventBridgeEntry(envelope) {
  const detail = envelope.detail || {};
  const arn = (envelope.resources || [])[0] || "";
  return h(
    "li",
    { class: "eventbridge-event", dataset: { name: detail.event_name || "" } },
    time(envelope.time),
    " ",
    h("span", { class: "tag eventbridge" }, envelope["detail-type"]),
    ` ${detail.event_name || ""} `,
    h("strong", {}, detail.user_id || ""),
    detail.error_code ? ` (${detail.error_code})` : "",
    arn ? [" on ", stageLink(arn, stageName(arn))] : "",
  );
}

function addToTimeline(entry) {
  const list = $("#timeline");
  list.prepend(entry);
  while (list.children.length > TIMELINE_LIMIT) list.lastElementChild.remove();
}

// --- the stage list -----------------------------------------------------------------------------------

function renderStages() {
  const rows = state.stages.map((stage) =>
    h(
      "tr",
      { dataset: { arn: stage.arn }, class: stage.activeSessionId ? "active" : "" },
      h("td", {}, stageLink(stage.arn, stage.name || "(unnamed)")),
      h("td", { class: "mono" }, stageId(stage.arn)),
      h("td", { class: "mono" }, stage.activeSessionId || "—"),
      h("td", { class: "num participants" }, stage.participants),
      h("td", { class: "num publishers" }, stage.publishers),
      h("td", { class: "num" }, stage.sessions),
      h("td", {}, dateTime(stage.createdAt)),
    ),
  );
  $("#stages tbody").replaceChildren(...rows);
  $("#no-stages").hidden = rows.length > 0;
}

async function createStage(event) {
  event.preventDefault();
  const name = event.target.name.value.trim();
  try {
    const created = await callAws("CreateStage", name ? { name } : {});
    event.target.reset();
    location.hash = `#/stage/${encodeURIComponent(created.stage.arn)}`;
  } catch (error) {
    toast(error.message, true);
  }
}

// --- the stage page -----------------------------------------------------------------------------------

function scheduleStageRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(loadStage, REFRESH_DELAY_MS);
}

async function loadStage() {
  const arn = state.stageArn;
  if (!arn) return;
  const query = new URLSearchParams({ arn });
  if (state.sessionId) query.set("session", state.sessionId);
  let page;
  try {
    page = await read(`/api/console/stage?${query}`);
  } catch (error) {
    if (arn !== state.stageArn) return;
    if (error.status === 404) {
      $("#stage-gone").textContent = `${error.message}. It may have been deleted.`;
      $("#stage-gone").hidden = false;
      $("#delete-stage").disabled = true;
    } else {
      toast(error.message, true);
    }
    return;
  }
  if (arn === state.stageArn) renderStage(page);
}

function renderStage(page) {
  const stage = page.stage;
  $("#stage-gone").hidden = true;
  $("#delete-stage").disabled = false;
  $("#stage-name").textContent = stage.name || "(unnamed stage)";
  $("#stage-arn").textContent = stage.arn;
  $("#stage-session").textContent = stage.activeSessionId || "none (nobody connected)";
  $("#stage-created").replaceChildren(dateTime(stage.createdAt));
  const tags = Object.entries(stage.tags).map(([key, value]) => h("span", { class: "tag" }, `${key}=${value}`));
  $("#stage-tags").replaceChildren(...(tags.length ? tags : ["none"]));
  $("#shown-session").textContent = page.sessionId ? `in ${page.sessionId}` : "";
  renderSessions(page);
  renderParticipants(page);
  const events = page.events.map((event) => participantEntry(event));
  $("#stage-events").replaceChildren(...events.reverse());
  renderCompositions(page.compositions);
}

function renderSessions(page) {
  const rows = page.sessions.map((session) =>
    h(
      "tr",
      { class: session.sessionId === page.sessionId ? "selected" : "", dataset: { session: session.sessionId } },
      h(
        "td",
        { class: "mono" },
        h("a", { href: "#", onclick: (event) => pickSession(event, session.sessionId) }, session.sessionId),
        session.endTime ? "" : h("span", { class: "tag live-tag" }, "live"),
      ),
      h("td", {}, dateTime(session.startTime)),
      h("td", {}, dateTime(session.endTime)),
      h("td", { class: "num" }, session.participants),
    ),
  );
  $("#sessions tbody").replaceChildren(...rows);
  $("#no-sessions").hidden = rows.length > 0;
}

function pickSession(event, sessionId) {
  event.preventDefault();
  state.sessionId = sessionId;
  loadStage();
}

function client(participant) {
  const parts = [
    [participant.browserName, participant.browserVersion].filter(Boolean).join(" "),
    [participant.osName, participant.osVersion].filter(Boolean).join(" "),
    participant.sdkVersion ? `SDK ${participant.sdkVersion}` : "",
  ];
  return parts.filter(Boolean).join(", ") || participant.protocol || "";
}

function renderParticipants(page) {
  const live = page.sessionId && page.sessionId === page.stage.activeSessionId;
  const rows = page.participants.map((participant) =>
    h(
      "tr",
      { dataset: { participant: participant.participantId, state: participant.state } },
      h("td", {}, h("strong", {}, participant.userId || "(none)"), attributesOf(participant.attributes)),
      h("td", { class: "mono" }, participant.participantId),
      h("td", { class: `state ${participant.state.toLowerCase()}` }, participant.state),
      h("td", { class: "publishing" }, participant.publishing ? "publishing" : participant.published ? "stopped" : "—"),
      h("td", { class: "mono subscribed" }, participant.subscribedTo.join(", ") || "—"),
      h("td", {}, client(participant)),
      h("td", {}, time(participant.firstJoinTime)),
      h(
        "td",
        {},
        live && participant.state === "CONNECTED"
          ? h("button", { type: "button", class: "danger disconnect", onclick: () => disconnect(participant) }, "Disconnect")
          : "",
      ),
    ),
  );
  $("#participants tbody").replaceChildren(...rows);
  $("#no-participants").hidden = rows.length > 0;
}

function attributesOf(attributes) {
  const pairs = Object.entries(attributes || {});
  return pairs.length ? h("div", { class: "muted small" }, pairs.map(([k, v]) => `${k}=${v}`).join(" ")) : "";
}

function renderCompositions(compositions) {
  const rows = compositions.map((composition) =>
    h(
      "tr",
      {},
      h("td", { class: "mono" }, stageId(composition.arn)),
      h("td", {}, composition.state),
      h("td", {}, Object.keys(composition.layout || {}).join(", ") || "grid"),
      h("td", {}, composition.destinations.map((d) => `${d.kind} ${d.id} ${d.state}`).join("; ")),
      h("td", {}, dateTime(composition.startTime)),
      h("td", {}, dateTime(composition.endTime)),
    ),
  );
  $("#compositions tbody").replaceChildren(...rows);
  $("#no-compositions").hidden = rows.length > 0;
}

async function disconnect(participant) {
  const who = participant.userId || participant.participantId;
  if (!confirm(`Disconnect ${who}? Its token can never join this stage again.`)) return;
  try {
    await callAws("DisconnectParticipant", {
      stageArn: state.stageArn,
      participantId: participant.participantId,
      reason: "disconnected from the openstage console",
    });
    toast(`${who} was disconnected`);
  } catch (error) {
    toast(error.message, true);
  }
}

async function deleteStage() {
  const arn = state.stageArn;
  if (!confirm(`Delete stage ${stageName(arn)}? Everyone on it is disconnected and its sessions are forgotten.`)) return;
  try {
    await callAws("DeleteStage", { arn });
    toast(`stage ${stageName(arn)} deleted`);
    location.hash = "#/";
  } catch (error) {
    toast(error.message, true);
  }
}

function parseAttributes(text) {
  const attributes = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`attribute lines must be key=value, not "${line}"`);
    attributes[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return attributes;
}

async function mintToken(event) {
  event.preventDefault();
  const form = event.target;
  $("#token-error").textContent = "";
  $("#token-result").hidden = true;
  try {
    const capabilities = ["publish", "subscribe"].filter((name) => form[name].checked).map((name) => name.toUpperCase());
    const request = { stageArn: state.stageArn, capabilities, attributes: parseAttributes(form.attributes.value) };
    if (form.userId.value.trim()) request.userId = form.userId.value.trim();
    if (form.duration.value) request.duration = Number(form.duration.value);
    const { participantToken } = await callAws("CreateParticipantToken", request);
    $("#token-participant").textContent = participantToken.participantId;
    $("#token-expiry").replaceChildren(dateTime(participantToken.expirationTime));
    $("#token-value").value = participantToken.token;
    $("#join-link").href = `/join#token=${encodeURIComponent(participantToken.token)}`;
    $("#token-result").hidden = false;
  } catch (error) {
    $("#token-error").textContent = error.message;
  }
}

// --- routing -------------------------------------------------------------------------------------------

function route() {
  const match = location.hash.match(/^#\/stage\/(.+)$/);
  if (match) {
    const arn = decodeURIComponent(match[1]);
    if (arn !== state.stageArn) {
      state.sessionId = null;
      $("#token-result").hidden = true;
      $("#token-error").textContent = "";
    }
    state.stageArn = arn;
    show("stage-view");
    loadStage();
  } else {
    state.stageArn = null;
    show("stages-view");
    renderStages();
  }
}

window.addEventListener("hashchange", () => {
  if ($("#login-view").hidden) route();
});
$("#login-form").addEventListener("submit", login);
$("#logout").addEventListener("click", logout);
$("#create-stage").addEventListener("submit", createStage);
$("#token-form").addEventListener("submit", mintToken);
$("#delete-stage").addEventListener("click", deleteStage);
start().catch((error) => toast(error.message, true));

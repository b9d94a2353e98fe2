// The join page: a token (from #token=… or pasted), a preview with device choice, publish, a
// tile per publisher with its userId and mute/camera-off state, leave. Everything protocol-
// related lives in ./ivs/; this file only turns it into a page and words errors for people.

import { Stage } from "./ivs/stage.js";
import { StageError } from "./ivs/token.js";
import { WhipError } from "./ivs/whip.js";

const $ = (id) => document.getElementById(id);

let stage = null;
let preview = null; // the local MediaStream: shown in our tile, published as is
let muted = false;
let cameraOff = false;
let meter = null; // {context, timer}: the microphone level shown in our own tile

function showMessage(text, kind = "error") {
  $("message").textContent = text;
  $("message").dataset.kind = kind;
  $("message").hidden = !text;
}

/** Words for a refusal before joining, or for the end of a participation. */
function describe(error, joined) {
  const detail = error.message ? ` (${error.message})` : "";
  if (error instanceof WhipError) {
    return `The stage refused the media connection: ${error.message}`;
  }
  if (!(error instanceof StageError)) return `Something went wrong: ${error.message || error}`;
  switch (error.code) {
    case "TOKEN_EXPIRED":
      return `This token has expired${detail}. Ask for a new one.`;
    case "TOKEN_INVALID":
    case "TOKEN_INVALID_SIGNATURE":
    case "TOKEN_MISSING":
      return joined ? `The stage no longer accepts this token${detail}.` : `This token is not valid${detail}.`;
    case "PARTICIPANT_DISCONNECTED":
      return joined
        ? `You were removed from the stage${error.message ? `: ${error.message}` : ""}. This token cannot be used again.`
        : "This token was disconnected from the stage and cannot be used again. Ask for a new one.";
    case "STAGE_DELETED":
      return "The stage was deleted.";
    case "TOKEN_REUSED":
      return "This token joined the stage from another page or device, which took over.";
    case "NOT_A_TOKEN":
    case "NO_PERMISSIONS":
    case "CONNECTION_FAILED":
    case "CONNECTION_LOST":
      return error.message;
    default:
      return `${error.message || "The stage refused the connection."} (${error.code})`;
  }
}

function setState(state) {
  document.body.dataset.state = state;
  $("token-view").hidden = state !== "token";
  $("stage-view").hidden = state === "token";
}

function tile(id) {
  let element = document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]`);
  if (!element) {
    element = $("tile-template").content.firstElementChild.cloneNode(true);
    element.dataset.participantId = id;
    if (stage && id === stage.token.participantId) $("tiles").prepend(element);
    else $("tiles").append(element);
  }
  return element;
}

function render(element, { userId, audioMuted, videoStopped, status = "" }) {
  element.dataset.userId = userId;
  element.dataset.audioMuted = String(Boolean(audioMuted));
  element.dataset.videoStopped = String(Boolean(videoStopped));
  element.querySelector(".name").textContent = userId || "(no userId)";
  element.querySelector(".placeholder").textContent = (userId || "?").slice(0, 1).toUpperCase();
  element.querySelector(".status-badge").textContent = status;
}

function renderSelf() {
  $("alone").hidden = stage.remotes.size > 0;
  if (!stage.token.canPublish) return; // a watch-only participant has nothing to show of itself
  const self = tile(stage.token.participantId);
  self.classList.add("self");
  self.querySelector("video").muted = true;
  const status = stage.publication ? "publishing" : "preview";
  render(self, { userId: `${stage.token.userId || "you"} (you)`, audioMuted: muted, videoStopped: cameraOff, status });
}

async function fillDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [[$("camera"), "videoinput"], [$("microphone"), "audioinput"]]) {
    const current = preview?.getTracks().find((t) => `${t.kind}input` === kind)?.getSettings().deviceId;
    select.replaceChildren(
      ...devices
        .filter((d) => d.kind === kind)
        .map((d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId, false, d.deviceId === current)),
    );
  }
}

async function startPreview() {
  const joined = stage;
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
  if (stage !== joined) {
    for (const track of media.getTracks()) track.stop(); // the participation ended while the camera started
    return;
  }
  preview = media;
  tile(stage.token.participantId).querySelector("video").srcObject = preview;
  showLevel();
  await fillDevices();
}

/** A level meter on the preview's microphone, so the microphone is previewed as well as the camera. */
function showLevel() {
  stopLevel();
  const element = tile(stage.token.participantId).querySelector(".level");
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(preview).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    const peak = samples.reduce((loudest, sample) => Math.max(loudest, Math.abs(sample)), 0);
    element.value = Math.max(peak, element.value * 0.8); // falls back gently, like a VU meter
  }, 50);
  element.hidden = false;
  meter = { context, timer };
}

function stopLevel() {
  if (!meter) return;
  clearInterval(meter.timer);
  meter.context.close();
  meter = null;
}

/** Swaps one device: the preview and, when publishing, what the others receive. */
async function switchDevice(kind, deviceId) {
  const constraints =
    kind === "video"
      ? { video: { deviceId: { exact: deviceId }, width: 1280, height: 720 } }
      : { audio: { deviceId: { exact: deviceId } } };
  const fresh = await navigator.mediaDevices.getUserMedia(constraints);
  const track = fresh.getTracks()[0];
  track.enabled = kind === "video" ? !cameraOff : !muted;
  for (const old of preview.getTracks().filter((t) => t.kind === kind)) {
    preview.removeTrack(old);
    old.stop();
  }
  preview.addTrack(track);
  if (kind === "audio") showLevel();
  if (stage.publication) await stage.publication.replaceTrack(kind, track);
}

function remoteStatus(remote) {
  if (remote.session || !remote.isPublishing) return "";
  return stage.token.canSubscribe ? "connecting…" : "this token cannot watch";
}

function addRemote(remote) {
  render(tile(remote.id), { ...remote, status: remoteStatus(remote) });
  renderSelf();
}

async function join(tokenText) {
  showMessage("");
  try {
    stage = new Stage(tokenText);
  } catch (error) {
    showMessage(describe(error, false));
    return;
  }
  stage.addEventListener("participant-joined", (event) => addRemote(event.detail));
  stage.addEventListener("participant-updated", (event) => {
    const remote = event.detail;
    render(tile(remote.id), { ...remote, status: remoteStatus(remote) });
  });
  stage.addEventListener("participant-media", (event) => {
    const remote = event.detail;
    const video = tile(remote.id).querySelector("video");
    video.srcObject = remote.session.stream;
    // Joined from a link, the page may not play sound before a click: play muted and offer the click.
    video.play().catch(() => {
      video.muted = true;
      $("sound").hidden = false;
      return video.play();
    });
    render(tile(remote.id), remote);
  });
  stage.addEventListener("participant-left", (event) => {
    tile(event.detail.id).remove();
    renderSelf();
  });
  stage.addEventListener("error", (event) => {
    const { remote, error } = event.detail;
    render(tile(remote.id), { ...remote, status: "cannot watch" });
    showMessage(`Cannot watch ${remote.userId || remote.id}: ${error.message}`);
  });
  stage.addEventListener("left", (event) => ended(event.detail));
  $("join").disabled = true;
  try {
    await stage.join();
  } catch (error) {
    showMessage(describe(error, false));
    stage = null;
    return;
  } finally {
    $("join").disabled = false;
  }
  $("stage-id").textContent = stage.token.stageId;
  $("who").textContent = stage.token.userId;
  setState("joined");
  $("watch-only").hidden = stage.token.canPublish;
  for (const id of ["publish", "mute", "camera-off", "camera", "microphone"]) $(id).disabled = !stage.token.canPublish;
  renderSelf();
  if (stage.token.canPublish) {
    try {
      await startPreview();
    } catch (error) {
      if (stage) showMessage(`The camera or microphone cannot be used: ${error.message}`);
    }
  }
}

function showToggles() {
  $("mute").setAttribute("aria-pressed", String(muted));
  $("mute").textContent = muted ? "Unmute" : "Mute";
  $("camera-off").setAttribute("aria-pressed", String(cameraOff));
  $("camera-off").textContent = cameraOff ? "Camera on" : "Camera off";
}

function ended(reason) {
  stopLevel();
  for (const track of preview?.getTracks() || []) track.stop();
  preview = null;
  muted = cameraOff = false;
  showToggles();
  $("sound").hidden = true;
  $("tiles").replaceChildren();
  $("publish").textContent = "Publish";
  stage = null;
  setState("token");
  showMessage(reason ? describe(reason, true) : "You left the stage.", reason ? "error" : "info");
}

async function togglePublish() {
  meter?.context.resume(); // a page joined from a link may start its audio only after a click
  if (!stage.publication && !preview) {
    showMessage("There is no camera or microphone to publish: allow this page to use them, then join again.");
    return;
  }
  $("publish").disabled = true;
  try {
    if (stage.publication) {
      await stage.unpublish();
      document.body.dataset.state = "joined";
    } else {
      await stage.publish(preview, { audioMuted: muted, videoStopped: cameraOff });
      document.body.dataset.state = "publishing";
    }
  } catch (error) {
    if (stage) showMessage(describe(error, true)); // else the reason the stage ended is showing
  } finally {
    $("publish").disabled = false;
  }
  if (!stage) return;
  $("publish").textContent = stage.publication ? "Stop publishing" : "Publish";
  renderSelf();
}

function toggleMedia(kind) {
  if (kind === "audio") muted = !muted;
  else cameraOff = !cameraOff;
  for (const track of preview?.getTracks() || []) {
    if (track.kind === kind) track.enabled = kind === "audio" ? !muted : !cameraOff;
  }
  showToggles();
  stage.setMediaState(muted, cameraOff);
  renderSelf();
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  join($("token").value);
});
$("publish").addEventListener("click", togglePublish);
$("mute").addEventListener("click", () => toggleMedia("audio"));
$("camera-off").addEventListener("click", () => toggleMedia("video"));
$("leave").addEventListener("click", () => stage?.leave());
$("sound").addEventListener("click", () => {
  for (const video of document.querySelectorAll(".tile:not(.self) video")) video.muted = false;
  $("sound").hidden = true;
});
for (const [id, kind] of [["camera", "video"], ["microphone", "audio"]]) {
  $(id).addEventListener("change", (event) =>
    switchDevice(kind, event.target.value).catch((error) => showMessage(`That ${id} cannot be used: ${error.message}`)),
  );
}
window.addEventListener("pagehide", () => stage?.leave());

// A link like /join#token=<JWT> joins at once; the token then leaves the address bar and history.
const linked = new URLSearchParams(location.hash.slice(1)).get("token");
if (linked) {
  history.replaceState(null, "", location.pathname);
  $("token").value = linked;
  join(linked);
}

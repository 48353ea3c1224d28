"use strict";
// s2i listen: microphone windows go to the server over a WebSocket, one per second; each answer
// (an image, "quiet" or "skipped") is shown large and added to the strip of the last 30 seconds.
// A chosen or dropped file is sent whole and its answers fill the timeline as they arrive.

const $ = (id) => document.getElementById(id);
const SAMPLE_RATE = 16000;
const STRIP_LENGTH = 30;
const TEXT = {
  start: "Start listening",
  stop: "Stop listening",
  idle: "Press Start listening and allow the microphone.",
  asking: "Asking the browser for the microphone…",
  listening: "Listening. A new picture comes every second.",
  stopped: "Stopped. Press Start listening to go on.",
  refused: "The browser did not allow the microphone. Allow it for this page (the icon beside the address) and press Start listening again.",
  noMic: "No microphone was found on this device.",
  insecure: "The browser gives the microphone only to pages on this computer (localhost) or sent over HTTPS; open the page that way.",
  lost: "The connection to the server was lost. Press Start listening to try again.",
  unreachable: "The server could not be reached. Is s2i listen still running?",
  sendFailed: "The file could not be sent to the server.",
};

// What the tests and the latency benchmark read: per image, the time from the window's
// last sample sent to the image decoded on screen.
window.s2i = { windowsSent: 0, answers: [], latencies: [] };

const live = { listening: false, ws: null, stream: null, audio: null, seq: 0, sentAt: new Map() };
let limits = null;
fetch("api/status").then((r) => r.json()).then((s) => { limits = s.limits; }).catch(() => {});

function showError(id, message) {
  const box = $(id);
  box.textContent = message;
  box.hidden = false;
}

function clearError(id) {
  $(id).hidden = true;
  $(id).textContent = "";
}

function clock(date) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function setListening(on) {
  live.listening = on;
  $("listen").textContent = on ? TEXT.stop : TEXT.start;
  $("listen").setAttribute("aria-pressed", String(on));
}

function showLevel(rms) {
  const db = 20 * Math.log10(Math.max(rms, 1e-6));
  const percent = Math.round(Math.max(0, Math.min(100, (db + 60) / 60 * 100)));
  $("level-bar").style.width = percent + "%";
  $("level").setAttribute("aria-valuenow", String(percent));
}

$("listen").addEventListener("click", () => (live.listening ? stopListening(TEXT.stopped) : startListening()));

async function startListening() {
  clearError("live-error");
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("live-error", TEXT.insecure);
    return;
  }
  setListening(true);
  $("status").textContent = TEXT.asking;
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (err) {
    stopListening(TEXT.idle);
    showError("live-error", err && err.name === "NotFoundError" ? TEXT.noMic : TEXT.refused);
    return;
  }
  if (!live.listening) return stopListening(TEXT.stopped);  // pressed Stop while the browser asked
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/live`);
  live.ws = ws;
  live.seq = 0;
  live.sentAt.clear();
  let ready = false;
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.kind === "ready") {
      ready = true;
      startAudio().catch(() => { stopListening(TEXT.idle); showError("live-error", TEXT.refused); });
    } else if (message.kind === "error") {
      showError("live-error", message.message);
      stopListening(TEXT.idle);
    } else {
      showAnswer(message);
    }
  };
  ws.onclose = () => {
    if (live.ws === ws && live.listening) {
      stopListening(TEXT.idle);
      if ($("live-error").hidden) showError("live-error", ready ? TEXT.lost : TEXT.unreachable);
    }
  };
}

async function startAudio() {
  const audio = new AudioContext({ sampleRate: SAMPLE_RATE });
  live.audio = audio;
  await audio.audioWorklet.addModule("capture.js");
  const node = new AudioWorkletNode(audio, "capture", { processorOptions: { windowSamples: SAMPLE_RATE } });
  const silent = audio.createGain();
  silent.gain.value = 0;  // the worklet must reach the destination to run; nothing is ever heard
  audio.createMediaStreamSource(live.stream).connect(node).connect(silent).connect(audio.destination);
  node.port.onmessage = (event) => {
    if (event.data.level !== undefined) showLevel(event.data.level);
    if (event.data.window) sendWindow(event.data.window);
  };
  $("status").textContent = TEXT.listening;
}

function sendWindow(samples) {
  const ws = live.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  live.seq += 1;
  ws.send(samples.buffer);
  live.sentAt.set(live.seq, { at: performance.now(), clock: new Date() });
  window.s2i.windowsSent += 1;
}

function stopListening(statusText) {
  setListening(false);
  const { ws, stream, audio } = live;
  live.ws = live.stream = live.audio = null;
  if (ws) ws.close();
  if (stream) stream.getTracks().forEach((track) => track.stop());
  if (audio) audio.close().catch(() => {});
  showLevel(0);
  $("status").textContent = statusText;
}

function imageOrTile(src, alt, emptyText) {
  if (!src) {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.textContent = emptyText;
    return tile;
  }
  const picture = document.createElement("img");
  picture.src = src;
  picture.alt = alt;
  return picture;
}

function stripItem(label, answer, clockText) {
  const item = document.createElement("li");
  const drawn = answer.kind === "window" && !answer.quiet;
  const picture = imageOrTile(drawn ? answer.image : null, `Imagined from the sound at ${clockText}`, label);
  const caption = document.createElement("span");
  caption.textContent = clockText;
  item.append(picture, caption);
  return item;
}

function showAnswer(answer) {
  const sent = live.sentAt.get(answer.seq);
  live.sentAt.delete(answer.seq);
  const when = sent ? sent.clock : new Date();
  const clockText = clock(when);
  const record = { seq: answer.seq, kind: answer.kind, quiet: !!answer.quiet, arrived: performance.now() };
  window.s2i.answers.push(record);
  $("now").hidden = false;
  const newest = $("newest");
  if (answer.kind === "window" && !answer.quiet) {
    $("quiet").hidden = true;
    newest.hidden = false;
    newest.src = answer.image;
    newest.alt = `Picture imagined from the sound at ${clockText}`;
    $("spread-figure").hidden = !answer.spread;
    if (answer.spread) {
      $("spread").src = answer.spread;
      $("spread").alt = `Spread of the pictures imagined at ${clockText}`;
    }
    newest.decode().then(() => {
      if (sent) window.s2i.latencies.push(performance.now() - sent.at);
    }).catch(() => {});
    $("newest-caption").textContent = `The sound at ${clockText}`;
  } else {
    newest.hidden = true;
    $("spread-figure").hidden = true;
    $("quiet").hidden = false;
    $("quiet").querySelector("span").textContent = answer.kind === "window" ? "Quiet" : "Missed";
    $("quiet").querySelector("small").textContent = answer.kind === "window"
      ? "nothing loud enough to picture" : answer.message;
    $("newest-caption").textContent = `At ${clockText}`;
  }
  const label = answer.kind === "window" ? "quiet" : "missed";
  const strip = $("strip");
  strip.prepend(stripItem(label, answer, clockText));
  while (strip.children.length > STRIP_LENGTH) strip.lastElementChild.remove();
}

// ---- file mode ----

const drop = $("drop");
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", (event) => event.preventDefault());  // never open a dropped file in the tab
drop.addEventListener("dragover", () => drop.classList.add("over"));
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  drop.classList.remove("over");
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) imagineFile(file);
});
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file) imagineFile(file);
});

function minutes(seconds) {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function figure(src, alt, caption, emptyText) {
  const box = document.createElement("figure");
  const picture = imageOrTile(src, alt, emptyText);
  const text = document.createElement("figcaption");
  text.textContent = caption;
  box.append(picture, text);
  return box;
}

function timelineRow(window_) {
  const span = `${minutes(window_.start_s)}–${minutes(window_.end_s)}`;
  const row = document.createElement("li");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = span;
  row.append(time);
  if (window_.frame) row.append(figure(window_.frame, `Video frame at ${span}`, "video", ""));
  row.append(figure(window_.quiet ? null : window_.image, `Imagined from the sound at ${span}`, "imagined", "quiet"));
  if (!window_.quiet && window_.spread) row.append(figure(window_.spread, `Spread at ${span}`, "spread", ""));
  return row;
}

async function imagineFile(file) {
  clearError("file-error");
  const timeline = $("timeline");
  timeline.replaceChildren();
  const status = $("file-status");
  if (limits && file.size > limits.max_upload_bytes) {
    status.textContent = "";
    showError("file-error", `The file is larger than the ${limits.max_upload_bytes / 2 ** 20} MB this server accepts.`);
    return;
  }
  status.textContent = `Sending ${file.name}…`;
  let response;
  try {
    response = await fetch("api/file", { method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } });
  } catch (err) {
    status.textContent = "";
    showError("file-error", TEXT.sendFailed);
    return;
  }
  if (!response.ok) {
    let message = `The server refused the file (error ${response.status}).`;
    try { message = (await response.json()).error || message; } catch (err) { /* keep the status sentence */ }
    status.textContent = "";
    showError("file-error", message);
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let total = 0;
  let shown = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffered.indexOf("\n")) >= 0) {
      const message = JSON.parse(buffered.slice(0, cut));
      buffered = buffered.slice(cut + 1);
      if (message.kind === "info") {
        total = message.windows;
        status.textContent = `${file.name}: imagining ${total} second${total === 1 ? "" : "s"}…`;
      } else if (message.kind === "window") {
        timeline.append(timelineRow(message));
        shown += 1;
      } else if (message.kind === "done") {
        status.textContent = `${file.name}: ${shown} second${shown === 1 ? "" : "s"}, one row each.`;
      } else if (message.kind === "error") {
        showError("file-error", message.message);
      }
    }
  }
}

// The browser client of `assistant serve`: text chat and microphone over one WebSocket (/ws).
// Protocol: docs/protocol.md. No build step: plain JavaScript, loaded as it is.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const tokenQuery = token ? "?token=" + encodeURIComponent(token) : "";
const RATE = 16000;

// Counters the tests (and the curious) can read.
window.assistantStats = { audioChunks: 0, audioSeconds: 0, interrupted: 0, turns: 0 };

const $ = (id) => document.getElementById(id);
const log = $("log");
const turns = new Map(); // turn id -> {item, text, timings}
let socket = null;
let player = null; // {context, next, sources}
let microphone = null; // {context, stream, node}

function connect() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const conversation = params.get("conversation");
  if (conversation) url.searchParams.set("conversation", conversation);
  if (token) url.searchParams.set("token", token);
  socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (message) => {
    if (message.data instanceof ArrayBuffer) play(message.data);
    else handle(JSON.parse(message.data));
  };
  socket.onclose = (event) => {
    setStatus(`Disconnected (${event.code}${event.reason ? ": " + event.reason : ""}). Reload to reconnect.`);
    setEnabled(false);
    stopMicrophone();
  };
}

function send(object) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(object));
}

function setStatus(text) { $("status").textContent = text; }

function setEnabled(on) {
  for (const id of ["text", "send", "mic", "stop"]) $(id).disabled = !on;
}

function showError(text) {
  const error = $("error");
  error.textContent = text;
  error.hidden = false;
}

function addItem(kind, who, text) {
  const item = document.createElement("li");
  item.className = kind;
  const label = document.createElement("span");
  label.className = "who";
  label.textContent = who + ":";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(label, body);
  log.append(item);
  item.scrollIntoView({ block: "nearest" });
  return item;
}

function turnOf(id) {
  let turn = turns.get(id);
  if (!turn) {
    turn = { item: null, text: "" };
    turns.set(id, turn);
  }
  return turn;
}

function handle(event) {
  switch (event.type) {
    case "ready":
      setStatus(`Connected: conversation ${event.conversation}`);
      setEnabled(true);
      break;
    case "transcript":
      showTranscript(event);
      break;
    case "reply": {
      const turn = turnOf(event.turn);
      turn.text = event.part === 0 ? event.text : (turn.text + " " + event.text).trim();
      if (!turn.item) {
        turn.item = addItem("assistant", "Assistant", turn.text);
        turn.item.dataset.turn = event.turn;
      }
      turn.item.querySelector(".text").textContent = turn.text;
      break;
    }
    case "tone":
      if (turns.has(event.turn) && turns.get(event.turn).item) {
        turns.get(event.turn).item.title = `tone: ${event.style} (${event.reason})`;
      }
      break;
    case "timings":
      showTimings(event);
      break;
    case "turn":
      window.assistantStats.turns += 1;
      addFeedback(event.turn);
      break;
    case "interrupted":
      window.assistantStats.interrupted += 1;
      stopPlayback();
      break;
    case "proactive":
      addItem("proactive", "Reminder", event.text);
      break;
    case "feedback": {
      const button = document.querySelector(
        `li[data-turn="${event.turn}"] button[data-rating="${event.rating}"]`);
      if (button) button.setAttribute("aria-pressed", "true");
      break;
    }
    case "error":
      showError(event.error);
      break;
    default:
      break; // accepted, hello, speech_started: nothing to show
  }
}

// A partial transcript shows in a pending bubble that the final one of its turn replaces.
function showTranscript(event) {
  let item = log.querySelector(`li.user.partial[data-turn="${event.turn}"]`);
  if (!event.text) {
    if (item && event.final) item.remove(); // nothing was said after all
    return;
  }
  if (!item) {
    item = addItem("user partial", "You", event.text);
    item.dataset.turn = event.turn;
  }
  item.querySelector(".text").textContent = event.text;
  if (event.final) item.classList.remove("partial");
}

function showTimings(event) {
  const turn = turnOf(event.turn);
  if (!turn.item) return;
  const parts = Object.entries(event.timings_ms)
    .map(([stage, ms]) => `${stage} ${Math.round(ms)} ms`);
  if (event.voice_to_voice_ms != null) parts.push(`voice to voice ${Math.round(event.voice_to_voice_ms)} ms`);
  const line = document.createElement("small");
  line.className = "timings";
  line.textContent = parts.join(" · ");
  turn.item.append(line);
}

function addFeedback(id) {
  const turn = turns.get(id);
  if (!turn || !turn.item || turn.item.querySelector(".feedback")) return;
  const group = document.createElement("div");
  group.className = "feedback";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", "Rate this reply");
  for (const [rating, symbol, label] of [
    ["up", "✓ Good", "Good reply"], ["down", "✗ Bad", "Bad reply"],
    ["flag", "⚑ Flag", "Flag this reply"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.rating = rating;
    button.textContent = symbol;
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", "false");
    button.onclick = () => send({ type: "feedback", turn: id, rating });
    group.append(button);
  }
  turn.item.append(group);
}

// --- reply audio: 16 kHz PCM chunks, played back to back as they come --------------------------

function ensurePlayer() {
  if (!player) player = { context: new AudioContext(), next: 0, sources: new Set() };
  if (player.context.state === "suspended") player.context.resume();
  return player;
}

function play(buffer) {
  const samples = new Int16Array(buffer);
  if (!samples.length) return;
  const { context, sources } = ensurePlayer();
  const audio = context.createBuffer(1, samples.length, RATE);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = context.createBufferSource();
  source.buffer = audio;
  source.connect(context.destination);
  const start = Math.max(context.currentTime + 0.02, player.next);
  source.start(start);
  player.next = start + audio.duration;
  sources.add(source);
  source.onended = () => sources.delete(source);
  window.assistantStats.audioChunks += 1;
  window.assistantStats.audioSeconds += audio.duration;
  $("audio-chunks").textContent = window.assistantStats.audioChunks;
  $("audio-seconds").textContent = window.assistantStats.audioSeconds.toFixed(1);
}

function stopPlayback() {
  if (!player) return;
  for (const source of player.sources) {
    try { source.stop(); } catch (e) { /* already over */ }
  }
  player.sources.clear();
  player.next = 0;
}

// --- microphone: an AudioWorklet sends 16 kHz 16-bit PCM as binary frames ----------------------

async function startMicrophone() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
  });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/worklet.js" + tokenQuery);
  const node = new AudioWorkletNode(context, "pcm-sender");
  node.port.onmessage = (message) => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(message.data);
  };
  context.createMediaStreamSource(stream).connect(node);
  microphone = { context, stream, node };
  $("mic").setAttribute("aria-pressed", "true");
  $("mic").textContent = "Stop microphone";
  setStatus("Listening…");
}

function stopMicrophone() {
  if (!microphone) return;
  // A second of silence lets the server's VAD end an utterance the button cut short (in
  // microphone-sized blocks: the server limits a message's size).
  if (socket && socket.readyState === WebSocket.OPEN) {
    for (let i = 0; i < RATE / 512; i++) socket.send(new Int16Array(512).buffer);
  }
  microphone.stream.getTracks().forEach((track) => track.stop());
  microphone.context.close();
  microphone = null;
  $("mic").setAttribute("aria-pressed", "false");
  $("mic").textContent = "Start microphone";
}

$("mic").onclick = async () => {
  ensurePlayer();
  if (microphone) { stopMicrophone(); setStatus("Microphone off"); return; }
  try {
    await startMicrophone();
  } catch (error) {
    showError(`The microphone could not start: ${error.message}`);
  }
};

$("stop").onclick = () => {
  stopPlayback();
  send({ type: "interrupt" });
};

$("chat").onsubmit = (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  ensurePlayer(); // a user gesture: the browser lets the page play audio from now on
  $("error").hidden = true;
  send({ type: "text", text });
  $("text").value = "";
};

connect();

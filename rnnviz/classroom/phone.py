"""The phone's page: one plain HTML file, no framework, a few kilobytes.

Everything a student typed, and every token and label that comes back, is written with
`textContent` (never innerHTML), so typed markup shows as text. The page draws its own token: 16
random bytes kept in localStorage (a cookie where storage is off), so phones behind one address are
told apart, and a reload keeps its place in the room's limits.
"""

from __future__ import annotations

import html
import json

STYLE = """
body { font: 17px/1.4 system-ui, sans-serif; margin: 0; padding: 14px; color: #222; background: #fafafa; }
h1 { font-size: 1.15rem; margin: 0 0 2px; }
.meta { color: #666; font-size: .85rem; margin-bottom: 10px; }
form { display: flex; gap: 8px; }
input[type=text] { flex: 1; font-size: 17px; padding: 10px; border: 1px solid #bbb; border-radius: 8px; min-width: 0; }
button { font-size: 17px; padding: 10px 14px; border: 0; border-radius: 8px; background: #1f6feb; color: #fff; }
button:disabled { background: #999; }
.message { margin: 10px 0; padding: 8px 10px; border-radius: 8px; background: #fff3cd; color: #6b4e00; }
.message:empty { display: none; }
.answer { background: #fff; border: 1px solid #ddd; border-radius: 10px; padding: 10px; margin: 12px 0; }
.said { color: #444; word-break: break-word; }
.final { font-size: 1.3rem; font-weight: 600; margin: 4px 0; }
.flip { color: #b00020; font-size: .95rem; }
.steps { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
.step { border-radius: 6px; padding: 3px 6px; font-size: .85rem; border: 2px solid #ccc; background: #fff; }
.step.flipped { border-style: dashed; }
.step b { display: block; font-weight: 600; }
svg { display: block; margin-top: 8px; width: 100%; height: 70px; }
"""

SCRIPT = """
const room = JSON.parse(document.getElementById('room').textContent);
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const colourOf = {};
function colour(label) {
  if (!(label in colourOf)) colourOf[label] = COLOURS[Object.keys(colourOf).length % COLOURS.length];
  return colourOf[label];
}
function newToken() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}
function phoneToken() {
  const valid = t => typeof t === 'string' && /^[0-9a-f]{32}$/.test(t);
  try {
    let token = localStorage.getItem('rnnviz-phone');
    if (!valid(token)) { token = newToken(); localStorage.setItem('rnnviz-phone', token); }
    return token;
  } catch (e) {
    const found = document.cookie.match(/(?:^|; )rnnviz_phone=([0-9a-f]{32})/);
    if (found) return found[1];
    const token = newToken();
    document.cookie = 'rnnviz_phone=' + token + '; path=/; max-age=86400; SameSite=Lax';
    return token;
  }
}
const phone = phoneToken();
const message = document.getElementById('message');
const input = document.getElementById('sentence');
const button = document.getElementById('send');
const answers = document.getElementById('answers');

async function post(what, body) {
  const response = await fetch(room.base + '/' + what, {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(Object.assign({phone: phone}, body)),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {error: 'The server answered ' + response.status + '.'}; }
  return data;
}
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
function picture(reading) {
  // One bar per token: its height is the probability of the label after it, its colour the label.
  const ns = 'http://www.w3.org/2000/svg', n = reading.tokens.length, width = Math.max(n * 14, 100);
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + width + ' 60');
  svg.setAttribute('preserveAspectRatio', 'none');
  reading.probabilities.forEach((p, t) => {
    const bar = document.createElementNS(ns, 'rect');
    bar.setAttribute('x', t * width / n + 1);
    bar.setAttribute('width', Math.max(width / n - 2, 1));
    bar.setAttribute('y', 60 - 58 * p);
    bar.setAttribute('height', 58 * p);
    bar.setAttribute('fill', colour(reading.labels[t]));
    const title = document.createElementNS(ns, 'title');
    title.textContent = reading.tokens[t] + ': ' + reading.labels[t] + ' ' + Math.round(p * 100) + ' %';
    bar.appendChild(title);
    svg.appendChild(bar);
  });
  return svg;
}
function show(text, data) {
  const box = element('div', 'answer');
  box.appendChild(element('div', 'said', text));
  const reading = data.reading;
  box.appendChild(element('div', 'final',
    reading.final.label + ' · ' + Math.round(reading.final.probability * 100) + ' %'));
  if (reading.flips.length) {
    const changes = reading.flips.map(t =>
      '“' + reading.tokens[t] + '”: ' + reading.labels[t - 1] + ' → ' + reading.labels[t]);
    box.appendChild(element('div', 'flip', 'The prediction changed at ' + changes.join(', ')));
  } else {
    box.appendChild(element('div', 'flip', 'The prediction never changed.'));
  }
  box.appendChild(picture(reading));
  const steps = element('div', 'steps');
  reading.tokens.forEach((token, t) => {
    const step = element('span', reading.flips.includes(t) ? 'step flipped' : 'step');
    step.style.borderColor = colour(reading.labels[t]);
    step.appendChild(element('b', '', token));
    step.appendChild(document.createTextNode(
      reading.labels[t] + ' ' + Math.round(reading.probabilities[t] * 100) + ' %'));
    steps.appendChild(step);
  });
  box.appendChild(steps);
  answers.insertBefore(box, answers.firstChild);
}
(async () => {
  const data = await post('hello', {});
  if (data.error) { message.textContent = data.error; button.disabled = true; return; }
  (data.labels || []).forEach(colour);
  document.getElementById('model').textContent = 'Model: ' + data.model;
})();
document.getElementById('form').addEventListener('submit', async event => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) { message.textContent = 'Type a sentence first.'; return; }
  button.disabled = true;
  message.textContent = '';
  try {
    const data = await post('say', {text: text});
    if (data.error) { message.textContent = data.error; return; }
    if (data.notice) message.textContent = data.notice;
    document.getElementById('model').textContent = 'Model: ' + data.reading.model;
    show(data.text, data);
    input.value = '';
  } catch (e) {
    message.textContent = 'No answer from the server; try again.';
  } finally {
    button.disabled = false;
  }
});
"""


def phone_page(code: str, shown: str, base: str) -> str:
    """The page a join link opens: `code` the room, `shown` how it is written, `base` the path
    its requests go to."""
    # </script> cannot occur in the JSON: '<' is written as \\u003c.
    room = json.dumps({"code": code, "base": base}).replace("<", "\\u003c")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rnnviz room {html.escape(shown)}</title>
<style>{STYLE}</style></head>
<body>
<h1>Room {html.escape(shown)}</h1>
<div class="meta" id="model">Connecting…</div>
<form id="form" autocomplete="off">
<input type="text" id="sentence" name="sentence" enterkeyhint="send" aria-label="sentence"
 placeholder="type a sentence, press Enter">
<button id="send" type="submit">Send</button>
</form>
<div class="message" id="message" role="status"></div>
<div id="answers"></div>
<script type="application/json" id="room">{room}</script>
<script>{SCRIPT}</script>
</body></html>"""


def notice_page(title: str, message: str) -> str:
    """A plain page for a join link that leads nowhere (unknown code, too many tries)."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1><div class="message">{html.escape(message)}</div>
<form method="get" action="/join"><input type="text" name="code" aria-label="room code"
 placeholder="room code, e.g. K7QM-X2PD" autocapitalize="characters"><button type="submit">Join</button></form>
</body></html>"""
